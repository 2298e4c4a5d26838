package main_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsEndpoint sends DICOMweb traffic to the real server, then
// scrapes GET /metrics and parses it with the Prometheus text parser: the
// request histogram is labelled by route pattern and by the status the
// DICOMweb error handler wrote, and every family the server exported
// before dicomweb/metrics is still there.
func TestMetricsEndpoint(t *testing.T) {
	s := startServer(t, diskStore, "--scrub-interval", "0")
	var parts [][]byte
	for _, f := range loadCorpus(t) {
		if f.part10 && f.metaUID != "" && len(parts) < 4 {
			parts = append(parts, f.data)
		}
	}
	r, res := stow(t, s.url("/studies"), parts...)
	if len(res.referenced) == 0 {
		t.Fatalf("STOW stored nothing: %s", r)
	}
	const searches = 3
	for range searches {
		expectStatus(t, "QIDO", get(t, s.url("/studies"), acceptJSON), http.StatusOK)
	}
	expectStatus(t, "metadata of an unknown study", get(t, s.url("/studies/1.2.3.4.5.6.7/metadata"), acceptJSON), http.StatusNotFound)
	expectStatus(t, "unknown path", get(t, s.base+"/no/such/1.2.3.4.5.6.7", ""), http.StatusNotFound)

	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}

	hist := fams["minipacs_http_request_duration_seconds"]
	if hist.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("minipacs_http_request_duration_seconds: type %v", hist.GetType())
	}
	for _, tc := range []struct {
		method, route, status string
		min                   uint64
	}{
		{"POST", "/dicomweb/studies", strconv.Itoa(r.status), 1},
		{"GET", "/dicomweb/studies", "200", searches},
		{"GET", "/dicomweb/studies/:study/metadata", "404", 1},
		{"GET", "other", "404", 1},
	} {
		var h *dto.Histogram
		for _, m := range hist.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["method"] == tc.method && l["route"] == tc.route && l["status"] == tc.status {
				h = m.GetHistogram()
			}
			if strings.Contains(l["route"], "1.2.3.4.5.6.7") {
				t.Errorf("route label with a UID: %v", l)
			}
		}
		if h == nil || h.GetSampleCount() < tc.min || len(h.GetBucket()) == 0 {
			t.Errorf("{method=%s,route=%s,status=%s}: %v, want a histogram with buckets and count >= %d", tc.method, tc.route, tc.status, h, tc.min)
		}
	}

	for _, prefix := range []string{"go_", "process_"} {
		found := false
		for name := range fams {
			found = found || strings.HasPrefix(name, prefix)
		}
		if !found {
			t.Errorf("no %s* family", prefix)
		}
	}
	// Every name of the hand-written exporter, and the new index ones.
	for _, name := range []string{
		"minipacs_index_studies", "minipacs_index_series", "minipacs_index_instances",
		"minipacs_index_commits_total", "minipacs_index_puts_total",
		"minipacs_scrub_objects_checked_total", "minipacs_scrub_bytes_checked_total", "minipacs_scrub_missing_total",
		"minipacs_scrub_mismatch_total", "minipacs_scrub_errors_total", "minipacs_scrub_passes_total",
		"minipacs_scrub_running", "minipacs_scrub_last_completed_timestamp_seconds",
		"minipacs_index_file_bytes", "minipacs_index_commit_seconds", "minipacs_stow_instances_total", "minipacs_stow_bytes_total",
	} {
		if fams[name] == nil || len(fams[name].GetMetric()) == 0 {
			t.Errorf("family %s missing", name)
		}
	}
	if v := fams["minipacs_index_instances"].GetMetric()[0].GetGauge().GetValue(); v != float64(len(res.referenced)) {
		t.Errorf("minipacs_index_instances = %g, want %d", v, len(res.referenced))
	}
	if c := fams["minipacs_index_commit_seconds"].GetMetric()[0].GetHistogram().GetSampleCount(); c == 0 {
		t.Error("minipacs_index_commit_seconds: no commit timed")
	}
	// The STOW handler and the ingester are wired to the metrics.
	var stored float64
	for _, m := range fams["minipacs_stow_instances_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "outcome" && l.GetValue() == "stored" {
				stored = m.GetCounter().GetValue()
			}
		}
	}
	if stored != float64(len(res.referenced)) {
		t.Errorf("minipacs_stow_instances_total{outcome=stored} = %g, want %d", stored, len(res.referenced))
	}
	if v := fams["minipacs_stow_bytes_total"].GetMetric()[0].GetCounter().GetValue(); v <= 0 {
		t.Errorf("minipacs_stow_bytes_total = %g", v)
	}
	if fams["minipacs_ingest_parts"] == nil || len(fams["minipacs_ingest_parts"].GetMetric()) != 2 {
		t.Error("minipacs_ingest_parts{stage=checking|writing} missing")
	}
}
