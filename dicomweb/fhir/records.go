package fhir

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// searchRecords serves a search of a type that Records serves: the
// paging and the warnings about unknown parameters are the facade's, the
// other parameters Records'. The Bundle is begun at the first entry, so
// that an error of Records before it (a bad parameter) is still answered
// with its status.
func (s *Server) searchRecords(c echo.Context, mime, typ string) error {
	r := c.Request()
	params, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.report(c, AccessSearched, typ, s.failure(c, &paramError{"invalid", "malformed query string"}, "search"), nil)
		return nil
	}
	sr := &searchRequest{count: DefaultCount, params: params}
	known := s.records.Types()[typ]
	rest := url.Values{}
	for _, k := range sortedKeys(params) {
		base, _, _ := strings.Cut(k, ":")
		switch {
		case resultParams[k]:
		case known[base] == "":
			sr.warnings = append(sr.warnings, Issue{Severity: "warning", Code: "not-supported",
				Diagnostics: "search parameter ignored: not supported", Expression: []string{safeName(k)}})
		default:
			rest[k] = params[k]
		}
	}
	p, err := parseSearch("Endpoint", paging(params).Encode())
	if err != nil {
		s.report(c, AccessSearched, typ, s.failure(c, err, "search"), nil)
		return nil
	}
	sr.count, sr.offset = p.count, p.offset
	base := s.fhirBase(r)
	ctx, acc := withAccessLog(r.Context())
	var b *bundleWriter
	begin := func() {
		if b != nil {
			return
		}
		b = newBundle(c, mime)
		if len(sr.warnings) > 0 {
			b.add(bundleEntry{Resource: &OperationOutcome{ResourceType: "OperationOutcome", Issue: sr.warnings}, Search: entrySearch{Mode: "outcome"}})
		}
	}
	var touched []StudyAccess
	n, more := 0, false
	err = s.records.Search(ctx, typ, rest, s.allow(ctx), func(id string, res json.RawMessage) error {
		n++
		pending := acc.take()
		switch {
		case n <= sr.offset || sr.count == 0:
			return nil
		case n > sr.offset+sr.count:
			more = true
			return errStop
		}
		touched = append(touched, pending...)
		begin()
		return b.add(bundleEntry{FullURL: base + "/" + typ + "/" + id, Resource: res, Search: entrySearch{"match"}})
	})
	if err != nil && !errors.Is(err, errStop) {
		status := http.StatusInternalServerError
		if b == nil {
			status = s.failure(c, err, "fhir search "+typ)
		} else {
			// The status is sent: the client sees a truncated body.
			s.log.Error("fhir search", "type", typ, "err", err)
		}
		s.report(c, AccessSearched, typ, status, touched)
		return nil
	}
	total := -1
	if !more {
		total = n
	}
	begin()
	b.close(total, s.links(base, typ, sr, more))
	s.report(c, AccessSearched, typ, http.StatusOK, touched)
	return nil
}

// readRecord serves the read of a type that Records serves, and audits
// it with what the resource touched.
func (s *Server) readRecord(c echo.Context, mime, typ, id string) error {
	ctx, acc := withAccessLog(c.Request().Context())
	res, err := s.records.Read(ctx, typ, id, s.allow(ctx))
	if err != nil {
		s.report(c, AccessRead, typ, s.failure(c, err, typ+" read"), nil)
		return nil
	}
	s.writeJSON(c, mime, http.StatusOK, res)
	s.report(c, AccessRead, typ, http.StatusOK, acc.take())
	return nil
}

// paging keeps the result parameters of params.
func paging(params url.Values) url.Values {
	out := url.Values{}
	for k, v := range params {
		if k == "_count" || k == "_offset" {
			out[k] = v
		}
	}
	return out
}
