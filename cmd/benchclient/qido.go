package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// qidoQuery is one labelled search.
type qidoQuery struct {
	label, path, query string
}

// parseQueryFlag reads "label|path?query", "label|query" or "query". The
// path defaults to /studies. The query is re-encoded the way browsers and
// OHIF send it (%5E for ^, %2A for *) unless raw is set: then it is sent as
// written (only checked to parse), which Orthanc 1.10 needs — its DICOMweb
// plugin 1.7 matches nothing for PatientName=Doe%5EJohn or Do%2A.
func parseQueryFlag(v string, i int, raw bool) (qidoQuery, error) {
	q := qidoQuery{label: fmt.Sprintf("qido_%d", i+1), path: "/studies"}
	if l, rest, ok := strings.Cut(v, "|"); ok {
		q.label, v = l, rest
	}
	if strings.HasPrefix(v, "/") {
		p, rest, _ := strings.Cut(v, "?")
		q.path, v = p, rest
	}
	enc, err := encodeQuery(v)
	if err != nil {
		return q, err
	}
	q.query = enc
	if raw {
		q.query = strings.ReplaceAll(v, " ", "%20")
	}
	if q.label == "" || strings.ContainsAny(q.label, " \t=") {
		return q, fmt.Errorf("bad label %q", q.label)
	}
	return q, nil
}

func cmdQIDO(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("qido", stderr)
	base := fs.String("url", "", "DICOMweb root")
	n := fs.Int("n", 200, "requests per query")
	warmup := fs.Int("warmup", 5, "unmeasured requests per query first")
	clients := fs.Int("clients", 1, "concurrent clients")
	timeout := fs.Duration("timeout", 2*time.Minute, "timeout per query")
	raw := fs.Bool("raw", false, "send each query as written (^ and * unescaped) instead of re-encoding it")
	var queries multiFlag
	fs.Var(&queries, "query", "search as 'label|PatientName=X&limit=25' or 'label|/series?Modality=CT' (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *base == "" || len(queries) == 0 {
		return errors.New("qido: -url and at least one -query are required")
	}
	if *n < 1 || *clients < 1 || *warmup < 0 {
		return errors.New("qido: -n and -clients must be at least 1")
	}
	var qs []qidoQuery
	for i, v := range queries {
		q, err := parseQueryFlag(v, i, *raw)
		if err != nil {
			return fmt.Errorf("qido: -query %q: %w", v, err)
		}
		qs = append(qs, q)
	}
	client := newHTTPClient(*clients, 30*time.Second)
	for _, q := range qs {
		qctx, cancel := context.WithTimeout(ctx, *timeout)
		r := qidoLoop(qctx, client, strings.TrimRight(*base, "/"), q, *n, *warmup, *clients)
		cancel()
		r.print(stdout, stderr)
	}
	return nil
}

// qidoLoop measures n requests of one query. The first (warm-up) answer is
// decoded to count the matches; measured requests read the body fully.
func qidoLoop(ctx context.Context, client *http.Client, base string, q qidoQuery, n, warmup, clients int) *result {
	u := base + q.path
	if q.query != "" {
		u += "?" + q.query
	}
	r := newResult(q.label)
	cnt := newCounters()
	matches := -1
	for i := 0; i < max(1, warmup); i++ {
		objs, err := getJSON(ctx, client, u)
		if err != nil {
			cnt.addError(err)
			break
		}
		matches = len(objs)
	}
	var lat latencies
	elapsed := runWorkers(ctx, clients, repeat([]struct{}{{}}, n), cnt, func(struct{}) {
		t0 := time.Now()
		status, err := getDiscard(ctx, client, u, "application/dicom+json")
		if err != nil {
			cnt.addError(err)
			return
		}
		cnt.addStatus(status)
		if status == http.StatusOK || status == http.StatusNoContent {
			lat.add(time.Since(t0))
		}
	})
	r.int("matches", int64(matches))
	lat.report(r)
	r.float("req_per_s", float64(n)/elapsed.Seconds())
	cnt.report(r)
	r.set("query", q.path+"?"+q.query)
	return r
}

// getDiscard GETs u, reads the body to the end and returns the status.
func getDiscard(ctx context.Context, client *http.Client, u, accept string) (int, error) {
	return get(ctx, client, u, accept, io.Discard, -1)
}

// get GETs u and copies at most limit bytes of the body (all when limit < 0)
// into w.
func get(ctx context.Context, client *http.Client, u, accept string, w io.Writer, limit int64) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, fmt.Errorf("get request: %w", err)
	}
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("get: %w", err)
	}
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	if limit >= 0 {
		body = io.LimitReader(resp.Body, limit)
	}
	if _, err := io.Copy(w, body); err != nil {
		return resp.StatusCode, fmt.Errorf("get read body: %w", err)
	}
	return resp.StatusCode, nil
}

// countJSONArray returns the number of elements of a JSON array read from r.
func countJSONArray(r io.Reader) (int, error) {
	var a []json.RawMessage
	if err := json.NewDecoder(r).Decode(&a); err != nil {
		return 0, err
	}
	return len(a), nil
}
