package dicomweb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/archive/ingest"
)

// stow handles STOW-RS: POST /studies[/{study}] with a multipart/related
// body of Part-10 objects (or one bare application/dicom object). Parts are
// read one at a time and spooled to disk; processing of a part overlaps the
// reading of the next.
func (s *Server) stow(c echo.Context) error {
	req := c.Request()
	study, _, _, err := uids(c)
	if err != nil {
		return err
	}
	if ce := strings.TrimSpace(req.Header.Get("Content-Encoding")); ce != "" && !strings.EqualFold(ce, "identity") {
		return unsupportedMedia("Content-Encoding is not supported; send the body uncompressed")
	}
	if !acceptsDICOMJSON(acceptOf(c)) {
		return notAcceptable("the STOW-RS response is application/dicom+json")
	}
	if s.lim.MaxRequestBytes > 0 {
		if req.ContentLength > s.lim.MaxRequestBytes {
			return &httpError{http.StatusRequestEntityTooLarge, "request body too large"}
		}
		req.Body = http.MaxBytesReader(c.Response(), req.Body, s.lim.MaxRequestBytes)
	}
	mt, params := parseMediaType(req.Header.Get("Content-Type"))
	var next func() (io.Reader, string, error)
	switch mt {
	case "multipart/related":
		if t := strings.ToLower(params["type"]); t != "" && t != "application/dicom" {
			return unsupportedMedia("only type=\"application/dicom\" parts are supported")
		}
		boundary := params["boundary"]
		if boundary == "" {
			return badRequest("multipart/related without a boundary")
		}
		buf := stowBufs.Get().(*[]byte)
		defer stowBufs.Put(buf)
		next = newStowReader(req.Body, boundary, *buf).NextPart
	case "application/dicom":
		done := false
		next = func() (io.Reader, string, error) {
			if done {
				return nil, "", io.EOF
			}
			done = true
			return req.Body, "application/dicom", nil
		}
	default:
		return unsupportedMedia("Content-Type must be multipart/related; type=\"application/dicom\"")
	}

	ctx := req.Context()
	var slots []*stowSlot
	var spooling []*ingest.Part
	var framing error
parts:
	for {
		r, ct, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			framing = err
			break
		}
		if len(slots) >= s.lim.MaxParts {
			framing = &httpError{http.StatusRequestEntityTooLarge, "too many parts in one request"}
			break
		}
		sl := &stowSlot{done: make(chan struct{})}
		if !isDICOMPart(ct) {
			if _, err := io.Copy(io.Discard, r); err != nil {
				framing = err
				break
			}
			sl.res = ingest.Result{Failure: ingest.FailureCannotUnderstand, Err: errors.New("part is not application/dicom")}
			sl.notDICOM = true
			close(sl.done)
			slots = append(slots, sl)
			continue
		}
		// Parts are written and hashed while the next ones are read; at
		// most maxSpooling of them (two buffers each) are left unwaited.
		if len(spooling) == maxSpooling {
			spooling[0].Wait()
			spooling = append(spooling[:0], spooling[1:]...)
		}
		p, err := s.ing.SpoolAsync(ctx, r, s.lim.MaxPartBytes)
		if errors.Is(err, ingest.ErrTooLarge) {
			if _, err := io.Copy(io.Discard, r); err != nil {
				framing = err
				break
			}
			sl.res = ingest.Result{Failure: ingest.FailureOutOfResources, Err: err}
			close(sl.done)
			slots = append(slots, sl)
			continue
		}
		if err != nil {
			framing = err
			break
		}
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			p.Close()
			framing = ctx.Err()
			break parts
		}
		slots = append(slots, sl)
		spooling = append(spooling, p)
		go func() {
			defer close(sl.done)
			sl.prep = s.ing.Check(ctx, p, study)
			<-s.sem
			if sl.prep.Result().Failure == 0 {
				select {
				case s.writes <- struct{}{}:
					s.ing.Write(ctx, sl.prep)
					<-s.writes
				case <-ctx.Done():
					// Commit or Abort below writes or forgets it.
				}
			}
			sl.res = sl.prep.Result()
			sl.notDICOM = sl.res.NotDICOM
		}()
	}
	for _, sl := range slots {
		<-sl.done
	}
	if framing != nil {
		// Nothing of a request that could not be read is kept: its
		// prepared instances were never visible and are forgotten.
		for _, sl := range slots {
			if sl.prep != nil {
				s.ing.Abort(context.WithoutCancel(ctx), sl.prep)
			}
		}
		var he *httpError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(framing, &he), ctx.Err() != nil:
			return framing
		case errors.As(framing, &mbe):
			return &httpError{http.StatusRequestEntityTooLarge, "request body too large"}
		}
		return badRequest("malformed multipart body")
	}
	if len(slots) == 0 {
		return badRequest("the request holds no instance")
	}
	// The whole body was read: make the prepared instances visible, in
	// one index group commit (see Ingester.CommitAll).
	var preps []*ingest.Prepared
	var prepSlots []*stowSlot
	for _, sl := range slots {
		if sl.prep != nil {
			preps = append(preps, sl.prep)
			prepSlots = append(prepSlots, sl)
		}
	}
	for i, res := range s.ing.CommitAll(ctx, preps) {
		prepSlots[i].res = res
	}

	results := make([]ingest.Result, len(slots))
	failed, warned, notDICOM := 0, 0, 0
	for i, sl := range slots {
		results[i] = sl.res
		if sl.res.Failure == 0 && sl.res.StudyUID != "" {
			touched(c, sl.res.StudyUID, 1)
		}
		switch {
		case sl.res.Failure != 0:
			failed++
			if sl.notDICOM {
				notDICOM++
			}
			s.log.Info("instance refused", "reason", sl.res.Failure, "err", sl.res.Err)
		case sl.res.Warning != 0:
			warned++
		}
	}
	status := http.StatusOK
	switch {
	case failed == len(slots) && notDICOM == failed:
		status = http.StatusBadRequest
	case failed == len(slots):
		status = http.StatusConflict
	case failed > 0 || warned > 0:
		status = http.StatusAccepted
	}
	var buf bytes.Buffer
	writeStowResponse(&buf, s.baseURL(req), study, results)
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/dicom+json")
	if cp, ok := s.ing.(interface{ CrashPoint(string) }); ok && failed < len(results) {
		cp.CrashPoint(ingest.CrashBeforeResponse) // crash-consistency tests only
	}
	return c.Blob(status, "application/dicom+json", buf.Bytes())
}

// stowBufs holds the read buffers of STOW requests (see stowReader).
var stowBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// maxSpooling bounds the parts of one request being written to their
// spool files while the request is read on.
const maxSpooling = 4

// stowSlot is one part of a STOW request: res is set once done is
// closed; prep is the prepared instance awaiting commit (nil for parts
// refused before parsing).
type stowSlot struct {
	res      ingest.Result
	prep     *ingest.Prepared
	notDICOM bool
	done     chan struct{}
}

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

// writeStowResponse writes the STOW-RS response data set (PS3.18 §10.5.3).
func writeStowResponse(w *bytes.Buffer, base, study string, results []ingest.Result) {
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
		writeJSONString(w, base+"/studies/"+study)
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
				writeJSONString(w, r.SOPClassUID)
				w.WriteString(`]}`)
				sep = ","
			}
			if r.SOPInstanceUID != "" {
				w.WriteString(sep + `"00081155":{"vr":"UI","Value":[`)
				writeJSONString(w, r.SOPInstanceUID)
				w.WriteString(`]}`)
				sep = ","
			}
			if failed {
				w.WriteString(sep + `"00081197":{"vr":"US","Value":[` + strconv.Itoa(int(r.Failure)) + `]}`)
			} else {
				w.WriteString(sep + `"00081190":{"vr":"UR","Value":[`)
				writeJSONString(w, base+"/studies/"+r.StudyUID+"/series/"+r.SeriesUID+"/instances/"+r.SOPInstanceUID)
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
}

// writeJSONString writes s as a JSON string.
func writeJSONString(w *bytes.Buffer, s string) {
	b, _ := json.Marshal(s)
	w.Write(b)
}
