package web

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/labstack/echo/v4"
)

// acceptsGzip reports whether a request's Accept-Encoding values allow a
// gzip-encoded answer (RFC 9110 §12.5.3): "gzip" (or "x-gzip") with a
// non-zero weight, or else "*" with a non-zero weight. "gzip;q=0" refuses
// it whatever "*" says.
func acceptsGzip(values []string) bool {
	gz, star := -1.0, -1.0
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				k, val, ok := strings.Cut(p, "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
					continue
				}
				f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0
				}
				q = f
			}
			switch strings.ToLower(strings.TrimSpace(coding)) {
			case "gzip", "x-gzip":
				gz = max(gz, q)
			case "*":
				star = max(star, q)
			}
		}
	}
	if gz >= 0 {
		return gz > 0
	}
	return star > 0
}

// wantsGzip reports whether to answer req with a gzip-encoded variant:
// the client accepts it and asks for no range (ranges of an encoded
// variant are ranges of the compressed bytes, which few clients expect:
// they get the identity file).
func wantsGzip(req *http.Request) bool {
	return req.Header.Get("Range") == "" && acceptsGzip(req.Header.Values("Accept-Encoding"))
}

// fileETag is a strong validator of a file's version, distinct per
// encoding (suffix).
func fileETag(st fs.FileInfo, suffix string) string {
	return fmt.Sprintf(`"%x-%x%s"`, st.ModTime().UnixNano(), st.Size(), suffix)
}

// precompressed opens name+".gz", written beside name by install.sh, when
// it is a regular file at least as new as name (an older one is stale).
// It returns nil when there is none (an install older than the .gz
// files).
func precompressed(root *os.Root, name string, st fs.FileInfo) (*os.File, fs.FileInfo) {
	f, err := root.Open(name + ".gz")
	if err != nil {
		return nil, nil
	}
	gst, err := f.Stat()
	if err != nil || !gst.Mode().IsRegular() || gst.ModTime().Before(st.ModTime()) {
		f.Close()
		return nil, nil
	}
	return f, gst
}

// serveStatic serves a file of the build as it is, or its precompressed
// .gz variant (Content-Encoding: gzip) when there is one and the client
// accepts it. Both variants carry Vary: Accept-Encoding and their own
// ETag; ranges and conditional requests are http.ServeContent's.
func serveStatic(c echo.Context, root *os.Root, name string, f *os.File, st fs.FileInfo) {
	w, req := c.Response(), c.Request()
	h := w.Header()
	if gz, gst := precompressed(root, name, st); gz != nil {
		defer gz.Close()
		h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
		if wantsGzip(req) {
			h.Set(echo.HeaderContentEncoding, "gzip")
			h.Set("ETag", fileETag(gst, "-gzip"))
			// ServeContent leaves the length of an encoded body unset.
			h.Set(echo.HeaderContentLength, strconv.FormatInt(gst.Size(), 10))
			http.ServeContent(w, req, name, st.ModTime(), gz)
			return
		}
	}
	h.Set("ETag", fileETag(st, ""))
	http.ServeContent(w, req, name, st.ModTime(), f)
}

// rewrittenFile is a rewritable file of the build (a top-level script or
// style sheet, manifest.json) at one version (mod, size): either the
// rewrite changes nothing (same: serve the file and its .gz as they are),
// or the rewritten body and its gzip encoding, made once and kept.
type rewrittenFile struct {
	mod      time.Time
	size     int64
	same     bool
	body, gz []byte
	etag     string // of body; gz's ends in -gzip
}

// newRewrittenFile rewrites raw (old → nu) and compresses the result.
func newRewrittenFile(raw []byte, st fs.FileInfo, old, nu string) (*rewrittenFile, error) {
	r := &rewrittenFile{mod: st.ModTime(), size: st.Size()}
	if !bytes.Contains(raw, []byte(old)) {
		r.same = true
		return r, nil
	}
	r.body = bytes.ReplaceAll(raw, []byte(old), []byte(nu))
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(r.body); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	r.gz = buf.Bytes()
	r.etag = fmt.Sprintf(`"%x-%x-%x"`, st.ModTime().UnixNano(), st.Size(), len(r.body))
	return r, nil
}

// serve sends the rewritten body or its gzip encoding.
func (r *rewrittenFile) serve(c echo.Context, name string) {
	w, req := c.Response(), c.Request()
	h := w.Header()
	h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	body, etag := r.body, r.etag
	if wantsGzip(req) {
		h.Set(echo.HeaderContentEncoding, "gzip")
		body, etag = r.gz, strings.TrimSuffix(r.etag, `"`)+`-gzip"`
		h.Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	}
	h.Set("ETag", etag)
	http.ServeContent(w, req, name, r.mod, bytes.NewReader(body))
}
