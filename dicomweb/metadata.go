package dicomweb

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/http"

	"github.com/labstack/echo/v4"
)

var bulkKey = []byte(`"BulkDataURI":"`)

// metadata handles WADO-RS metadata of a study, series or instance: the
// DICOM JSON computed at ingest, streamed from the index without reading
// any object. BulkDataURIs are stored relative to the DICOMweb root and
// made absolute here. A strong ETag (the stored objects' hashes and the
// base URL) allows 304 answers.
func (s *Server) metadata(c echo.Context) error {
	req := c.Request()
	ctx := req.Context()
	study, series, instance, err := uids(c)
	if err != nil {
		return err
	}
	ctype := jsonType(acceptOf(c))
	if ctype == "" {
		return notAcceptable("metadata is available as application/dicom+json")
	}
	refs, err := s.ret.Refs(ctx, study, series, instance)
	if err != nil {
		return err
	}
	base := s.baseURL(req)
	h := sha256.New()
	h.Write([]byte(base))
	for i := range refs {
		h.Write(refs[i].SHA256[:])
	}
	// The patient attributes may come from a patient record (HL7 ADT),
	// which changes without the objects.
	pv, err := s.idx.PatientVersion(ctx, study)
	if err != nil {
		return err
	}
	if !pv.IsZero() {
		h.Write(binary.AppendVarint(nil, pv.UnixNano()))
	}
	etag := `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
	rh := c.Response().Header()
	rh.Set("ETag", etag)
	if inm := req.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		return c.NoContent(http.StatusNotModified)
	}
	rh.Set(echo.HeaderContentType, ctype)
	c.Response().WriteHeader(http.StatusOK)
	w := bufio.NewWriterSize(c.Response(), 32<<10)
	repl := append(append([]byte{}, bulkKey...), base+"/"...)
	w.WriteByte('[')
	n := 0
	err = s.idx.Metadata(ctx, study, series, instance, func(js []byte) error {
		if n > 0 {
			w.WriteByte(',')
		}
		n++
		for {
			i := bytes.Index(js, bulkKey)
			if i < 0 {
				break
			}
			w.Write(js[:i])
			w.Write(repl)
			js = js[i+len(bulkKey):]
		}
		_, err := w.Write(js)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteByte(']')
	return w.Flush()
}

func etagMatch(header, etag string) bool {
	for _, t := range splitQuoted(header, ',') {
		t = trimSpace(t)
		if t == "*" || t == etag || t == "W/"+etag {
			return true
		}
	}
	return false
}

func trimSpace(s string) string {
	return string(bytes.TrimSpace([]byte(s)))
}
