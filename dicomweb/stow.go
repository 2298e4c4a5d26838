package dicomweb

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/minipacs/minipacs/dicomweb/dicom/jsonstr"
	"github.com/minipacs/minipacs/index"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/archive/ingest"
)

// stow handles STOW-RS: POST /studies[/{study}] with a multipart/related
// body of Part-10 objects (or one bare application/dicom object). Each part
// goes into one ingest batch as it is read (ingest overlaps its spooling,
// checking and writing with the reading of the next part); the batch is
// committed once the whole body was read, or aborted when it cannot be.
func (s *Server) stow(c echo.Context) error {
	study, _, _, err := uids(c)
	if err != nil {
		return err
	}
	next, release, err := s.stowBody(c)
	if err != nil {
		return err
	}
	defer release()
	ctx := c.Request().Context()
	b := s.ing.Begin(ctx, study)
	if err := s.addParts(ctx, b, next); err != nil {
		// Nothing of a request that could not be read is kept: its
		// prepared instances were never visible and are forgotten.
		b.Abort(ctx)
		var he *httpError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &he), ctx.Err() != nil:
			return err
		case errors.As(err, &mbe):
			return &httpError{http.StatusRequestEntityTooLarge, "request body too large"}
		}
		return badRequest("malformed multipart body")
	}
	if b.Len() == 0 {
		b.Abort(ctx)
		return badRequest("the request holds no instance")
	}
	results := b.Commit(ctx)
	var stored, existed, failed int
	var bytes int64
	for _, r := range results {
		switch {
		case r.Failure != 0:
			failed++
			s.log.Info("instance refused", "reason", r.Failure, "err", r.Err)
		case r.Existed:
			existed++
		default:
			stored++
			bytes += r.Size
		}
		if r.Failure == 0 && r.StudyUID != "" {
			touched(c, r.StudyUID, 1)
		}
	}
	if s.metrics != nil {
		s.metrics.ObserveStow(stored, existed, failed, bytes)
	}
	body := stowResponse(s.baseURL(c.Request()), study, results)
	if cp, ok := s.ing.(interface{ CrashPoint(string) }); ok && failed < len(results) {
		cp.CrashPoint(ingest.CrashBeforeResponse) // crash-consistency tests only
	}
	status := stowStatus(results)
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", retryAfter)
	}
	return c.Blob(status, "application/dicom+json", body)
}

// stowBody checks a STOW request's headers and returns its parts one by
// one (io.EOF after the last), and what to release when done.
func (s *Server) stowBody(c echo.Context) (next func() (io.Reader, string, error), release func(), err error) {
	req := c.Request()
	if ce := strings.TrimSpace(req.Header.Get("Content-Encoding")); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, nil, unsupportedMedia("Content-Encoding is not supported; send the body uncompressed")
	}
	if !acceptsDICOMJSON(acceptOf(c)) {
		return nil, nil, notAcceptable("the STOW-RS response is application/dicom+json")
	}
	if s.lim.MaxRequestBytes > 0 {
		if req.ContentLength > s.lim.MaxRequestBytes {
			return nil, nil, &httpError{http.StatusRequestEntityTooLarge, "request body too large"}
		}
		req.Body = http.MaxBytesReader(c.Response(), req.Body, s.lim.MaxRequestBytes)
	}
	mt, params := parseMediaType(req.Header.Get("Content-Type"))
	switch mt {
	case "multipart/related":
		if t := strings.ToLower(params["type"]); t != "" && t != "application/dicom" {
			return nil, nil, unsupportedMedia("only type=\"application/dicom\" parts are supported")
		}
		boundary := params["boundary"]
		if boundary == "" {
			return nil, nil, badRequest("multipart/related without a boundary")
		}
		buf := stowBufs.Get().(*[]byte)
		return newStowReader(req.Body, boundary, *buf).NextPart, func() { stowBufs.Put(buf) }, nil
	case "application/dicom":
		done := false
		return func() (io.Reader, string, error) {
			if done {
				return nil, "", io.EOF
			}
			done = true
			return req.Body, "application/dicom", nil
		}, func() {}, nil
	}
	return nil, nil, unsupportedMedia("Content-Type must be multipart/related; type=\"application/dicom\"")
}

// addParts adds every part of a STOW body to the batch; an error means the
// body could not be read to its end.
func (s *Server) addParts(ctx context.Context, b *ingest.Batch, next func() (io.Reader, string, error)) error {
	for {
		r, ct, err := next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if b.Len() >= s.lim.MaxParts {
			return &httpError{http.StatusRequestEntityTooLarge, "too many parts in one request"}
		}
		if !isDICOMPart(ct) {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return err
			}
			b.Refuse(ingest.Result{Failure: ingest.FailureCannotUnderstand, NotDICOM: true, Err: errors.New("part is not application/dicom")})
			continue
		}
		if err := b.Add(ctx, r); err != nil {
			return err
		}
	}
}

// stowStatus is the HTTP status of a STOW response (PS3.18 §10.5.3.1):
// 200 when every instance was stored without warning, 202 when some
// failed or have warnings, 409 when all failed, 400 when all failed
// because no part was a DICOM object, 503 when all failed because the
// index was unavailable (a database failover): the client sends again
// after Retry-After. (An object store that fails mid-request keeps 409
// with 0xA700 per instance, as agreed for STOW.)
func stowStatus(results []ingest.Result) int {
	failed, warned, notDICOM, unavailable := 0, 0, 0, 0
	for _, r := range results {
		switch {
		case r.Failure != 0:
			failed++
			if r.NotDICOM {
				notDICOM++
			}
			if errors.Is(r.Err, index.ErrUnavailable) {
				unavailable++
			}
		case r.Warning != 0:
			warned++
		}
	}
	switch {
	case failed == len(results) && notDICOM == failed:
		return http.StatusBadRequest
	case failed == len(results) && unavailable == failed:
		return http.StatusServiceUnavailable
	case failed == len(results):
		return http.StatusConflict
	case failed > 0 || warned > 0:
		return http.StatusAccepted
	}
	return http.StatusOK
}

// stowBufs holds the read buffers of STOW requests (see stowReader).
var stowBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

func isDICOMPart(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _ := parseMediaType(ct)
	return mt == "application/dicom"
}

// parseMediaType parses a Content-Type leniently: like mime.ParseMediaType,
// but a parameter value that should have been quoted and was not (clients
// send type=application/dicom bare) is taken as written. The media type
// and parameter names are lower-cased.
func parseMediaType(h string) (string, map[string]string) {
	if mt, params, err := mime.ParseMediaType(h); err == nil {
		return mt, params
	}
	parts := splitQuoted(h, ';')
	params := map[string]string{}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		params[strings.ToLower(strings.TrimSpace(k))] = v
	}
	return strings.ToLower(strings.TrimSpace(parts[0])), params
}

// acceptsDICOMJSON reports whether an Accept header allows a DICOM JSON
// answer (application/dicom+json, application/json or a wildcard).
func acceptsDICOMJSON(h string) bool { return jsonType(h) != "" }

// jsonType is the media type to answer DICOM JSON with: the client's
// first acceptable of application/dicom+json and the older
// application/json, or "" when it accepts neither.
func jsonType(h string) string {
	if strings.TrimSpace(h) == "" {
		return "application/dicom+json"
	}
	for _, mr := range parseAccept(h) {
		switch mr.typ {
		case "application/dicom+json", "*/*", "application/*":
			return "application/dicom+json"
		case "application/json":
			return "application/json"
		}
	}
	return ""
}

// stowResponse is the STOW-RS response data set (PS3.18 §10.5.3).
func stowResponse(base, study string, results []ingest.Result) []byte {
	w := new(bytes.Buffer)
	if study == "" {
		for _, r := range results {
			if r.Failure != 0 {
				continue
			}
			if study == "" {
				study = r.StudyUID
			} else if study != r.StudyUID {
				study = "" // several studies: no single RetrieveURL
				break
			}
		}
	}
	w.WriteByte('{')
	if study != "" {
		w.WriteString(`"00081190":{"vr":"UR","Value":[`)
		writeJSON(w, base+"/studies/"+study)
		w.WriteString(`]},`)
	} else {
		w.WriteString(`"00081190":{"vr":"UR"},`)
	}
	// FailedSOPSequence (0008,1198) then ReferencedSOPSequence (0008,1199).
	writeSeq := func(tag string, failed bool) {
		w.WriteString(`"` + tag + `":{"vr":"SQ"`)
		n := 0
		for _, r := range results {
			if (r.Failure != 0) != failed {
				continue
			}
			if n == 0 {
				w.WriteString(`,"Value":[`)
			} else {
				w.WriteByte(',')
			}
			n++
			w.WriteByte('{')
			sep := ""
			if r.SOPClassUID != "" {
				w.WriteString(`"00081150":{"vr":"UI","Value":[`)
				writeJSON(w, r.SOPClassUID)
				w.WriteString(`]}`)
				sep = ","
			}
			if r.SOPInstanceUID != "" {
				w.WriteString(sep + `"00081155":{"vr":"UI","Value":[`)
				writeJSON(w, r.SOPInstanceUID)
				w.WriteString(`]}`)
				sep = ","
			}
			if failed {
				w.WriteString(sep + `"00081197":{"vr":"US","Value":[` + strconv.Itoa(int(r.Failure)) + `]}`)
			} else {
				w.WriteString(sep + `"00081190":{"vr":"UR","Value":[`)
				writeJSON(w, base+"/studies/"+r.StudyUID+"/series/"+r.SeriesUID+"/instances/"+r.SOPInstanceUID)
				w.WriteString(`]}`)
				if r.Warning != 0 {
					w.WriteString(`,"00081196":{"vr":"US","Value":[` + strconv.Itoa(int(r.Warning)) + `]}`)
				}
			}
			w.WriteByte('}')
		}
		if n > 0 {
			w.WriteByte(']')
		}
		w.WriteByte('}')
	}
	writeSeq("00081198", true)
	w.WriteByte(',')
	writeSeq("00081199", false)
	w.WriteByte('}')
	return w.Bytes()
}

// writeJSON writes s as a JSON string.
func writeJSON(w *bytes.Buffer, s string) { w.Write(jsonstr.Append(w.AvailableBuffer(), s)) }
