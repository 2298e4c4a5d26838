package dicomweb

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/qido"
	"github.com/minipacs/minipacs/index"
)

// search returns the QIDO-RS handler of one level. The answer is a DICOM
// JSON array streamed as the index finds matches; no match is 200 [] (the
// choice recorded in the reference: CP-2473, and what clients accept).
func (s *Server) search(level index.Level) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		ctx := req.Context()
		study, series, _, err := uids(c)
		if err != nil {
			return err
		}
		if !acceptsDICOMJSON(req.Header.Get("Accept")) {
			return notAcceptable("search results are available as application/dicom+json")
		}
		q, err := qido.Parse(level, study, series, req.URL.RawQuery, s.qidoOptions())
		if err != nil {
			return err
		}
		rh := c.Response().Header()
		for _, w := range q.Warnings {
			rh.Add("Warning", "299 minipacs "+strconv.Quote(strings.ReplaceAll(w, `"`, `'`)))
		}
		base := s.baseURL(req)
		var bw *bufio.Writer
		n := 0
		err = s.idx.Search(ctx, q.Query, func(r *index.Result) error {
			if bw == nil {
				rh.Set(echo.HeaderContentType, "application/dicom+json")
				c.Response().WriteHeader(http.StatusOK)
				bw = bufio.NewWriterSize(c.Response(), 32<<10)
				bw.WriteByte('[')
			}
			if n > 0 {
				bw.WriteByte(',')
			}
			n++
			return q.Write(bw, base, r)
		})
		if err != nil {
			return err
		}
		if bw == nil {
			return c.Blob(http.StatusOK, "application/dicom+json", []byte("[]"))
		}
		bw.WriteByte(']')
		return bw.Flush()
	}
}
