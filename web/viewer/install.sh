#!/bin/sh
# Installs the prebuilt OHIF viewer (the dist/ folder of the npm package
# @ohif/app) into web/viewer/dist, where `minipacs serve` finds it by default
# (--viewer-dir). Run by `make viewer`; the files are not committed.
#
# Only the package's own tarball is fetched (npm pack): its dist/ is a complete
# build, and its npm dependencies are the sources of that build, not needed at
# run time. The tarball is checked against the version and integrity pinned in package.json.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
pin() { node -e 'process.stdout.write(require(process.argv[1]).ohif[process.argv[2]])' "$here/package.json" "$1"; }
OHIF_VERSION=$(pin version)
OHIF_INTEGRITY=$(pin integrity)
dest=${1:-$here/dist}
mkdir -p "$(dirname "$dest")"
tmp=$(mktemp -d "$(dirname "$dest")/.viewer-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "viewer: fetching @ohif/app@$OHIF_VERSION" >&2
(cd "$tmp" && npm pack --silent "@ohif/app@$OHIF_VERSION" >/dev/null)
tgz=$(ls "$tmp"/ohif-app-*.tgz)
got=sha512-$(node -e 'const c=require("crypto"),fs=require("fs");process.stdout.write(c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$tgz")
if [ "$got" != "$OHIF_INTEGRITY" ]; then
	echo "viewer: integrity mismatch for @ohif/app@$OHIF_VERSION: got $got" >&2
	exit 1
fi
mkdir -p "$tmp/x"
tar -xzf "$tgz" -C "$tmp/x" package/dist package/LICENSE
test -f "$tmp/x/package/dist/index.html"
cp "$tmp/x/package/LICENSE" "$tmp/x/package/dist/OHIF-LICENSE"

# Precompressed copies: minipacs sends name.gz (Content-Encoding: gzip) to
# clients that accept it, and name itself otherwise (web/encoding.go), so
# the originals stay. Only formats that compress (text, WebAssembly, icons)
# and files over 1 KiB; -n leaves the name and time out of the gzip header
# and the .gz keeps its original's modification time, which the server
# compares to refuse a stale .gz. A change to this script reinstalls the
# viewer (the Makefile's OHIF-VERSION rule depends on it), so the .gz files
# are remade with it.
echo "viewer: compressing" >&2
find "$tmp/x/package/dist" -type f -size +1k \( -name '*.js' -o -name '*.mjs' -o -name '*.css' \
	-o -name '*.html' -o -name '*.json' -o -name '*.jsonc' -o -name '*.svg' -o -name '*.wasm' \
	-o -name '*.map' -o -name '*.txt' -o -name '*.xml' -o -name '*.ico' \) \
	-exec gzip -9 -k -n {} +
echo "$OHIF_VERSION" > "$tmp/x/package/dist/OHIF-VERSION"
rm -rf "$dest.new" "$dest"
mv "$tmp/x/package/dist" "$dest.new"
mv "$dest.new" "$dest"
echo "viewer: OHIF $OHIF_VERSION installed in $dest" >&2
