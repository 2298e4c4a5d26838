package fhir

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
)

// searchRecords serves a search of a type that Records serves: the
// paging is the facade's, the other parameters are Records'.
func (s *Server) searchRecords(c echo.Context, mime, typ string) error {
	r := c.Request()
	params, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.failure(c, &paramError{"invalid", "malformed query string"}, "search")
		return nil
	}
	sr := &searchRequest{count: DefaultCount, params: params}
	rest := url.Values{}
	for k, v := range params {
		if resultParams[k] {
			continue
		}
		rest[k] = v
	}
	p, err := parseSearch("Endpoint", paging(params).Encode())
	if err != nil {
		s.failure(c, err, "search")
		return nil
	}
	sr.count, sr.offset = p.count, p.offset
	base := s.fhirBase(r)
	ctx := r.Context()
	b := newBundle(c, mime)
	n, more := 0, false
	err = s.records.Search(ctx, typ, rest, s.allow(ctx), func(id string, res json.RawMessage) error {
		n++
		switch {
		case n <= sr.offset || sr.count == 0:
			return nil
		case n > sr.offset+sr.count:
			more = true
			return errStop
		}
		return b.add(bundleEntry{FullURL: base + "/" + typ + "/" + id, Resource: res, Search: entrySearch{"match"}})
	})
	if err != nil && !errors.Is(err, errStop) {
		s.log.Error("fhir search", "type", typ, "err", err)
		s.report(c, AccessSearched, typ, http.StatusInternalServerError, nil)
		return nil
	}
	total := -1
	if !more {
		total = n
	}
	b.close(total, s.links(base, typ, sr, more))
	s.report(c, AccessSearched, typ, http.StatusOK, nil)
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
