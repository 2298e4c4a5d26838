package dicomweb

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/archive/query"
	"github.com/minipacs/minipacs/index"
)

// search returns the QIDO-RS handler of one level. The answer is a DICOM
// JSON array streamed as the index finds matches. No match is 204 No
// Content, as PS3.18 §8.3.4.4.1 requires today (the team reference chose
// 200 [] after CP-2473, which is not final; the standard wins, and
// dicomweb-client turns a 204 into []).
func (s *Server) search(level index.Level) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		ctx := req.Context()
		study, series, _, err := uids(c)
		if err != nil {
			return err
		}
		ctype := jsonType(acceptOf(c))
		if ctype == "" {
			return notAcceptable("search results are available as application/dicom+json")
		}
		q, err := query.Parse(level, study, series, req.URL.RawQuery, s.qidoOptions())
		if err != nil {
			return err
		}
		rh := c.Response().Header()
		warn := func(w string) {
			rh.Add("Warning", "299 minipacs "+strconv.Quote(strings.ReplaceAll(w, `"`, `'`)))
		}
		for _, w := range q.Warnings {
			warn(w)
		}
		base := s.baseURL(req)
		// q.Write copies each result out: the index may reuse their memory.
		q.Query.Reuse = true
		if q.ServerLimited {
			// The server chose the limit: PS3.18 §8.3.4.4 wants a warning
			// when more results exist.
			more, err := s.moreResults(ctx, q.Query)
			if err != nil {
				return err
			}
			if more {
				warn(query.MoreResultsWarning)
			}
		}
		var bw *bufio.Writer
		n := 0
		err = s.searchIndex(ctx, q.Query, func(r *index.Result) error {
			if bw == nil {
				rh.Set(echo.HeaderContentType, ctype)
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
			return c.NoContent(http.StatusNoContent)
		}
		bw.WriteByte(']')
		return bw.Flush()
	}
}

// moreResults reports whether q has a match past its page. The Warning
// header must precede the answer, which is streamed: rather than hold the
// whole page (up to the server's cap, memory that grows with the index
// until the cap), a first walk looks for the one match after it without
// copying the page. A study stored between the two walks may make the
// warning stale, as it could a moment later anyway.
func (s *Server) moreResults(ctx context.Context, q index.Query) (bool, error) {
	q.Offset, q.Limit = q.Offset+q.Limit, 1
	more := false
	err := s.searchIndex(ctx, q, func(*index.Result) error {
		more = true
		return nil
	})
	return more, err
}

// searchIndex runs q on the index, keeping only the patients the request
// may see when a PatientFilter or StudyFilter applies (then limit and offset are applied
// after the filter, so pages stay full).
func (s *Server) searchIndex(ctx context.Context, q index.Query, fn func(*index.Result) error) error {
	allow := s.allowFunc(ctx)
	if allow == nil {
		return s.idx.Search(ctx, q, fn)
	}
	limit, offset := q.Limit, q.Offset
	q.Limit, q.Offset = 0, 0
	err := s.idx.Search(ctx, q, restrictResults(allow, limit, offset, fn))
	if errors.Is(err, errStopSearch) {
		return nil
	}
	return err
}
