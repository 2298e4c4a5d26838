package fhir

import (
	"bufio"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

const (
	mimeFHIR = "application/fhir+json"
	mimeJSON = "application/json"
)

// formatNames are the _format values accepted, with the media type
// answered.
var formatNames = map[string]string{
	"json": mimeFHIR, mimeFHIR: mimeFHIR, mimeJSON: mimeJSON, "application/json+fhir": mimeFHIR,
}

// format negotiates the response type: _format when given, else Accept.
// JSON only: application/fhir+json (the default) or application/json. It
// answers 406 itself and returns false when neither is acceptable.
func (s *Server) format(c echo.Context) (string, bool) {
	r := c.Request()
	if f := r.URL.Query()["_format"]; len(f) > 0 {
		if m, ok := formatNames[strings.ToLower(strings.TrimSpace(f[0]))]; ok {
			return m, true
		}
		s.outcome(c, http.StatusNotAcceptable, "not-supported", "only JSON (_format json, application/fhir+json, application/json) is supported")
		return "", false
	}
	accept := strings.TrimSpace(strings.Join(r.Header.Values("Accept"), ","))
	if strings.Trim(accept, ", ") == "" {
		return mimeFHIR, true
	}
	for _, h := range []string{accept} {
		for _, part := range strings.Split(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			if q, ok := params["q"]; ok {
				if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
					continue
				}
			}
			switch mt {
			case mimeFHIR, "application/json+fhir", "*/*", "application/*":
				return mimeFHIR, true
			case mimeJSON:
				return mimeJSON, true
			}
		}
	}
	s.outcome(c, http.StatusNotAcceptable, "not-supported", "only JSON (application/fhir+json, application/json) is supported")
	return "", false
}

// writeJSON writes v as the whole response.
func (s *Server) writeJSON(c echo.Context, mimeType string, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Type", mimeType+"; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(status)
	_, err = c.Response().Write(b)
	return err
}

// OperationOutcome is a FHIR R4 OperationOutcome.
type OperationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []Issue `json:"issue"`
}

// Issue is one OperationOutcome.issue.
type Issue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"`
}

// outcome answers status with an OperationOutcome of one error issue.
// Messages hold no request input except validated parameter names.
func (s *Server) outcome(c echo.Context, status int, code, msg string) error {
	return s.writeJSON(c, mimeFHIR, status, &OperationOutcome{ResourceType: "OperationOutcome",
		Issue: []Issue{{Severity: "error", Code: code, Diagnostics: msg}}})
}

// bundleLink is one Bundle.link.
type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type entrySearch struct {
	Mode string `json:"mode"`
}

type bundleEntry struct {
	FullURL  string      `json:"fullUrl,omitempty"`
	Resource any         `json:"resource"`
	Search   entrySearch `json:"search"`
}

// bundleWriter streams a searchset Bundle: its entries one by one, then
// total and links (JSON members may come in any order), so that a page is
// never held whole in memory.
type bundleWriter struct {
	w       *bufio.Writer
	entries int
	err     error
}

func newBundle(c echo.Context, mimeType string) *bundleWriter {
	h := c.Response().Header()
	h.Set("Content-Type", mimeType+"; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	b := &bundleWriter{w: bufio.NewWriterSize(c.Response(), 32<<10)}
	b.write([]byte(`{"resourceType":"Bundle","type":"searchset"`))
	return b
}

func (b *bundleWriter) write(p []byte) {
	if b.err == nil {
		_, b.err = b.w.Write(p)
	}
}

// add writes one entry.
func (b *bundleWriter) add(e bundleEntry) error {
	js, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if b.entries == 0 {
		b.write([]byte(`,"entry":[`))
	} else {
		b.write([]byte(","))
	}
	b.entries++
	b.write(js)
	return b.err
}

// close ends the bundle with total (when known, >= 0) and links.
func (b *bundleWriter) close(total int, links []bundleLink) error {
	if b.entries > 0 {
		b.write([]byte("]"))
	}
	if total >= 0 {
		b.write([]byte(`,"total":` + strconv.Itoa(total)))
	}
	js, _ := json.Marshal(links)
	b.write([]byte(`,"link":`))
	b.write(js)
	b.write([]byte("}"))
	if b.err == nil {
		b.err = b.w.Flush()
	}
	return b.err
}
