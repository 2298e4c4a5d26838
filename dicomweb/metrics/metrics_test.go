package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/archive/scrub"
	"github.com/minipacs/minipacs/dicomweb/metrics"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// errGone is mapped to 410 by the test's error handler, as a front
// door's error handler maps its errors: the middleware must record the
// status that handler writes, not guess one.
var errGone = errors.New("gone")

// server is an echo instance set up as cmd/minipacs does: the metrics
// middleware outermost (first e.Pre), a custom error handler that aborts
// started responses, a couple of routes with parameters, GET /metrics.
type server struct {
	url string
	m   *metrics.Metrics
	idx *index.Index
}

func newServer(t *testing.T) *server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "index.db")
	idx, err := index.Open(context.Background(), path, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	var counters scrub.Counters
	counters.ObjectsChecked.Add(7)
	counters.Passes.Add(1)
	m := metrics.New(metrics.Options{
		Index: idx, IndexFile: path, Scrub: &counters,
		IngestQueue: func() (int, int) { return 3, 1 },
	})
	idx.SetOnCommit(m.ObserveIndexCommit)

	e := echo.New()
	e.Pre(m.Middleware())
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		if c.Response().Committed {
			panic(http.ErrAbortHandler)
		}
		status := http.StatusInternalServerError
		var he *echo.HTTPError
		switch {
		case errors.Is(err, errGone):
			status = http.StatusGone
		case errors.As(err, &he):
			status = he.Code
		}
		c.String(status, http.StatusText(status))
	}
	e.GET("/studies/:study/metadata", func(c echo.Context) error {
		if c.Param("study") == "9.9" {
			return errGone
		}
		return c.String(http.StatusOK, "[]")
	})
	e.POST("/studies", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	e.GET("/stream/:id", func(c echo.Context) error {
		c.Response().WriteHeader(http.StatusOK)
		c.Response().Write([]byte("partial"))
		return errors.New("store failed mid-stream")
	})
	e.GET("/metrics", echo.WrapHandler(m.Handler()))
	ts := httptest.NewServer(e)
	t.Cleanup(ts.Close)
	return &server{url: ts.URL, m: m, idx: idx}
}

func (s *server) request(t *testing.T, method, path string) (int, error) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// scrape fetches /metrics and parses it with the Prometheus text parser.
func (s *server) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// find returns the metric of fam whose labels include want (nil if none).
func find(fam *dto.MetricFamily, want map[string]string) *dto.Metric {
	if fam == nil {
		return nil
	}
next:
	for _, m := range fam.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

func TestHTTPDuration(t *testing.T) {
	s := newServer(t)
	requests := []struct {
		name           string
		method, path   string
		n              int
		route, status  string
		methodLabel    string
		brokenResponse bool // the client sees an aborted transfer
	}{
		{name: "ok", method: "GET", path: "/studies/1.2.3/metadata", n: 3, route: "/studies/:study/metadata", status: "200"},
		{name: "handler error", method: "GET", path: "/studies/9.9/metadata", n: 2, route: "/studies/:study/metadata", status: "410"},
		{name: "post", method: "POST", path: "/studies", n: 2, route: "/studies", status: "204"},
		{name: "no route", method: "GET", path: "/nothing/1.2.3", n: 2, route: "other", status: "404"},
		{name: "wrong method", method: "DELETE", path: "/studies", n: 1, route: "other", status: "405"},
		{name: "odd method", method: "BREW", path: "/studies", n: 1, route: "other", status: "405", methodLabel: "other"},
		{name: "aborted stream", method: "GET", path: "/stream/4.5", n: 1, route: "/stream/:id", status: "200", brokenResponse: true},
	}
	for _, r := range requests {
		for i := 0; i < r.n; i++ {
			code, err := s.request(t, r.method, r.path)
			if r.brokenResponse {
				if err == nil {
					t.Errorf("%s: %s %s: complete response, want an aborted transfer", r.name, r.method, r.path)
				}
				continue
			}
			if err != nil || strconv.Itoa(code) != r.status {
				t.Errorf("%s: %s %s = %d %v, want %s", r.name, r.method, r.path, code, err, r.status)
			}
		}
	}
	fams := s.scrape(t)
	fam := fams["minipacs_http_request_duration_seconds"]
	if fam.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("minipacs_http_request_duration_seconds: type %v, want a histogram", fam.GetType())
	}
	for _, r := range requests {
		t.Run(r.name, func(t *testing.T) {
			method := r.method
			if r.methodLabel != "" {
				method = r.methodLabel
			}
			m := find(fam, map[string]string{"method": method, "route": r.route, "status": r.status})
			if m == nil {
				t.Fatalf("no series {method=%q,route=%q,status=%q} in %v", method, r.route, r.status, series(fam))
			}
			h := m.GetHistogram()
			if h.GetSampleCount() < uint64(r.n) || len(h.GetBucket()) < 5 || h.GetSampleSum() <= 0 {
				t.Errorf("histogram: count %d (want >= %d), %d buckets, sum %g", h.GetSampleCount(), r.n, len(h.GetBucket()), h.GetSampleSum())
			}
		})
	}
	// No raw path (with its UIDs) ever becomes a label.
	for _, m := range fam.GetMetric() {
		for _, l := range m.GetLabel() {
			if strings.Contains(l.GetValue(), "1.2.3") || strings.Contains(l.GetValue(), "9.9") {
				t.Errorf("label %s=%q holds a request path", l.GetName(), l.GetValue())
			}
		}
	}
}

func TestFamilies(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	for i := range 5 {
		if _, err := s.idx.Put(ctx, indextest.Instance(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.m.ObserveStow(4, 1, 2, 12345)
	s.m.ObserveStow(1, 0, 0, 100)
	fams := s.scrape(t)

	for _, prefix := range []string{"go_", "process_"} {
		found := false
		for name := range fams {
			found = found || strings.HasPrefix(name, prefix)
		}
		if !found {
			t.Errorf("no %s* family", prefix)
		}
	}
	value := func(m *dto.Metric) float64 {
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		}
		return m.GetUntyped().GetValue()
	}
	tests := []struct {
		name   string
		typ    dto.MetricType
		labels map[string]string
		check  func(v float64) bool
	}{
		{"minipacs_index_studies", dto.MetricType_GAUGE, nil, func(v float64) bool { return v == 5 }},
		{"minipacs_index_series", dto.MetricType_GAUGE, nil, func(v float64) bool { return v == 5 }},
		{"minipacs_index_instances", dto.MetricType_GAUGE, nil, func(v float64) bool { return v == 5 }},
		{"minipacs_index_commits_total", dto.MetricType_COUNTER, nil, func(v float64) bool { return v >= 1 && v <= 5 }},
		{"minipacs_index_puts_total", dto.MetricType_COUNTER, nil, func(v float64) bool { return v == 5 }},
		{"minipacs_index_file_bytes", dto.MetricType_GAUGE, nil, func(v float64) bool { return v > 0 }},
		{"minipacs_scrub_objects_checked_total", dto.MetricType_COUNTER, nil, func(v float64) bool { return v == 7 }},
		{"minipacs_scrub_bytes_checked_total", dto.MetricType_COUNTER, nil, func(v float64) bool { return v == 0 }},
		{"minipacs_scrub_missing_total", dto.MetricType_COUNTER, nil, func(v float64) bool { return v == 0 }},
		{"minipacs_scrub_mismatch_total", dto.MetricType_COUNTER, nil, func(v float64) bool { return v == 0 }},
		{"minipacs_scrub_errors_total", dto.MetricType_COUNTER, nil, func(v float64) bool { return v == 0 }},
		{"minipacs_scrub_passes_total", dto.MetricType_COUNTER, nil, func(v float64) bool { return v == 1 }},
		{"minipacs_scrub_running", dto.MetricType_GAUGE, nil, func(v float64) bool { return v == 0 }},
		{"minipacs_scrub_last_completed_timestamp_seconds", dto.MetricType_GAUGE, nil, func(v float64) bool { return v == 0 }},
		{"minipacs_stow_instances_total", dto.MetricType_COUNTER, map[string]string{"outcome": "stored"}, func(v float64) bool { return v == 5 }},
		{"minipacs_stow_instances_total", dto.MetricType_COUNTER, map[string]string{"outcome": "existed"}, func(v float64) bool { return v == 1 }},
		{"minipacs_stow_instances_total", dto.MetricType_COUNTER, map[string]string{"outcome": "failed"}, func(v float64) bool { return v == 2 }},
		{"minipacs_stow_bytes_total", dto.MetricType_COUNTER, nil, func(v float64) bool { return v == 12445 }},
		{"minipacs_ingest_parts", dto.MetricType_GAUGE, map[string]string{"stage": "checking"}, func(v float64) bool { return v == 3 }},
		{"minipacs_ingest_parts", dto.MetricType_GAUGE, map[string]string{"stage": "writing"}, func(v float64) bool { return v == 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name+labelString(tc.labels), func(t *testing.T) {
			fam := fams[tc.name]
			if fam == nil {
				t.Fatal("family missing")
			}
			if fam.GetType() != tc.typ {
				t.Errorf("type %v, want %v", fam.GetType(), tc.typ)
			}
			m := find(fam, tc.labels)
			if m == nil {
				t.Fatalf("no series with labels %v", tc.labels)
			}
			if v := value(m); !tc.check(v) {
				t.Errorf("value %g", v)
			}
		})
	}
	commit := fams["minipacs_index_commit_seconds"]
	if commit.GetType() != dto.MetricType_HISTOGRAM || len(commit.GetMetric()) != 1 {
		t.Fatalf("minipacs_index_commit_seconds: %v", commit)
	}
	h := commit.GetMetric()[0].GetHistogram()
	commits := value(find(fams["minipacs_index_commits_total"], nil))
	if float64(h.GetSampleCount()) != commits || h.GetSampleSum() <= 0 || len(h.GetBucket()) < 5 {
		t.Errorf("minipacs_index_commit_seconds: count %d (want %g commits), sum %g, %d buckets", h.GetSampleCount(), commits, h.GetSampleSum(), len(h.GetBucket()))
	}
}

// series lists the label sets of fam, for error messages.
func series(fam *dto.MetricFamily) []string {
	var out []string
	for _, m := range fam.GetMetric() {
		var l []string
		for _, p := range m.GetLabel() {
			l = append(l, p.GetName()+"="+p.GetValue())
		}
		out = append(out, "{"+strings.Join(l, ",")+"}")
	}
	return out
}

func labelString(l map[string]string) string {
	if len(l) == 0 {
		return ""
	}
	var b strings.Builder
	for k, v := range l {
		b.WriteString("/" + k + "=" + v)
	}
	return b.String()
}

// TestIndexUnavailable checks that a closed index costs the scrape only
// its index gauges.
func TestIndexUnavailable(t *testing.T) {
	s := newServer(t)
	if err := s.idx.Close(); err != nil {
		t.Fatal(err)
	}
	s.scrape(t)
	// The second scrape shows the first's request and gathering error.
	fams := s.scrape(t)
	if fams["minipacs_index_instances"] != nil {
		t.Error("minipacs_index_instances served from a closed index")
	}
	for _, name := range []string{"minipacs_index_commits_total", "minipacs_scrub_passes_total", "go_goroutines", "minipacs_http_request_duration_seconds"} {
		if fams[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
	if m := find(fams["promhttp_metric_handler_errors_total"], map[string]string{"cause": "gathering"}); m == nil || m.GetCounter().GetValue() < 1 {
		t.Errorf("promhttp_metric_handler_errors_total{cause=gathering}: %v", m)
	}
}

// TestRegisterIngestQueue checks the late registration of the ingest
// queue, and that a second one is refused rather than doubled.
func TestRegisterIngestQueue(t *testing.T) {
	m := metrics.New(metrics.Options{})
	if err := m.RegisterIngestQueue(func() (int, int) { return 2, 5 }); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterIngestQueue(func() (int, int) { return 0, 0 }); err == nil {
		t.Error("second RegisterIngestQueue accepted")
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if f.GetName() == "minipacs_ingest_parts" {
			for _, m := range f.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	if len(got) != 2 || got["checking"] != 2 || got["writing"] != 5 {
		t.Errorf("minipacs_ingest_parts = %v, want checking 2, writing 5", got)
	}
}
