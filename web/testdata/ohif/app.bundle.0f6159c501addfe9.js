(() => {
// webpack/runtime/public_path
__webpack_require__.p = "/";
var x = "__webpack_require__.p = \"/\"";
})();
