package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer is a minimal DICOMweb server for the client's tests: STOW
// checks the multipart framing and records what arrived; QIDO and WADO serve
// one study with a large and a small series. It clamps limit to 7 so that the
// client's paging is exercised.
type fakeServer struct {
	t         *testing.T
	study     string
	big       []string // SOP UIDs of the large series
	frameSize int

	mu       sync.Mutex
	received map[[32]byte]int // sha256 of each part -> times received
	requests int
	lastQIDO string
}

const (
	fakeBigSeries   = "1.2.3.100"
	fakeSmallSeries = "1.2.3.200"
)

func newFakeServer(t *testing.T, instances int) (*fakeServer, string) {
	f := &fakeServer{t: t, study: "1.2.3", frameSize: 512, received: map[[32]byte]int{}}
	for i := range instances {
		f.big = append(f.big, fmt.Sprintf("1.2.3.100.%d", i+1))
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL + "/dicomweb"
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/dicom+json")
	json.NewEncoder(w).Encode(v)
}

func uidAttr(v string) map[string]any { return map[string]any{"vr": "UI", "Value": []string{v}} }

// page applies limit (clamped to 7) and offset to n items.
func page(r *http.Request, n int) (int, int) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 7 {
		limit = 7
	}
	off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	return min(off, n), min(off+limit, n)
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	f.mu.Unlock()
	p := strings.TrimPrefix(r.URL.Path, "/dicomweb")
	series := "/studies/" + f.study + "/series/" + fakeBigSeries
	switch {
	case r.Method == http.MethodGet && (r.URL.Path == "/healthz" || r.URL.Path == "/system"):
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodPost && p == "/studies":
		f.stow(w, r)
	case r.Method == http.MethodGet && p == "/studies":
		f.mu.Lock()
		f.lastQIDO = r.URL.RawQuery
		f.mu.Unlock()
		if r.URL.Query().Get("offset") != "" && r.URL.Query().Get("offset") != "0" {
			writeJSON(w, []any{})
			return
		}
		writeJSON(w, []any{map[string]any{"0020000D": uidAttr(f.study)}})
	case r.Method == http.MethodGet && p == "/studies/"+f.study+"/series":
		if r.URL.Query().Get("offset") != "" && r.URL.Query().Get("offset") != "0" {
			writeJSON(w, []any{})
			return
		}
		writeJSON(w, []any{
			map[string]any{"0020000E": uidAttr(fakeSmallSeries), "00201209": map[string]any{"vr": "IS", "Value": []int{2}}},
			map[string]any{"0020000E": uidAttr(fakeBigSeries), "00201209": map[string]any{"vr": "IS", "Value": []int{len(f.big)}}},
		})
	case r.Method == http.MethodGet && p == series+"/instances":
		lo, hi := page(r, len(f.big))
		out := []any{}
		for _, s := range f.big[lo:hi] {
			out = append(out, map[string]any{"00080018": uidAttr(s)})
		}
		writeJSON(w, out)
	case r.Method == http.MethodGet && p == series:
		if !strings.Contains(r.Header.Get("Accept"), `type="application/dicom"`) {
			http.Error(w, "bad accept", http.StatusNotAcceptable)
			return
		}
		mw := multipart.NewWriter(w)
		w.Header().Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
		for range f.big {
			pw, _ := mw.CreatePart(map[string][]string{"Content-Type": {"application/dicom"}})
			pw.Write(make([]byte, 1000))
		}
		mw.Close()
	case r.Method == http.MethodGet && p == series+"/metadata":
		out := []any{}
		for _, s := range f.big {
			out = append(out, map[string]any{"00080018": uidAttr(s)})
		}
		writeJSON(w, out)
	case r.Method == http.MethodGet && strings.HasPrefix(p, series+"/instances/") && strings.HasSuffix(p, "/frames/1"):
		if !strings.Contains(r.Header.Get("Accept"), "application/octet-stream") {
			http.Error(w, "bad accept", http.StatusNotAcceptable)
			return
		}
		mw := multipart.NewWriter(w)
		w.Header().Set("Content-Type", "multipart/related; type=application/octet-stream; boundary="+mw.Boundary())
		pw, _ := mw.CreatePart(map[string][]string{"Content-Type": {"application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"}})
		pw.Write(make([]byte, f.frameSize))
		mw.Close()
	case r.Method == http.MethodGet && strings.HasPrefix(p, series+"/instances/") && strings.HasSuffix(p, "/rendered"):
		switch r.Header.Get("Accept") {
		case "image/jpeg":
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F'})
		case "image/png": // wrong body for the type: the client must notice
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte("not a png"))
		default:
			http.Error(w, "bad accept", http.StatusNotAcceptable)
		}
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeServer) stow(w http.ResponseWriter, r *http.Request) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" || params["type"] != "application/dicom" {
		http.Error(w, "bad content type", http.StatusUnsupportedMediaType)
		return
	}
	if r.ContentLength <= 0 {
		http.Error(w, "no content length", http.StatusLengthRequired)
		return
	}
	cr := &countReader{r: r.Body}
	mr := multipart.NewReader(cr, params["boundary"])
	var refs []any
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if part.Header.Get("Content-Type") != "application/dicom" {
			http.Error(w, "part type", http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(part)
		f.mu.Lock()
		f.received[sha256.Sum256(b)]++
		f.mu.Unlock()
		refs = append(refs, map[string]any{})
	}
	io.Copy(io.Discard, cr)
	if cr.n != r.ContentLength {
		http.Error(w, fmt.Sprintf("body %d bytes, Content-Length %d", cr.n, r.ContentLength), http.StatusBadRequest)
		return
	}
	writeJSON(w, map[string]any{"00081199": map[string]any{"vr": "SQ", "Value": refs}})
}

// runLine runs the client and returns the key=value pairs of each output line.
func runLine(t *testing.T, args ...string) []map[string]string {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, args, &out, &errOut); err != nil {
		t.Fatalf("benchclient %v: %v\n%s", args, err, errOut.String())
	}
	var lines []map[string]string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		m := map[string]string{}
		for _, kv := range strings.Fields(line) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("output %q: field %q is not key=value", line, kv)
			}
			m[k] = v
		}
		lines = append(lines, m)
	}
	return lines
}

func num(t *testing.T, m map[string]string, k string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(m[k], 64)
	if err != nil {
		t.Fatalf("%s=%q in %v: %v", k, m[k], m, err)
	}
	return v
}

func TestStow(t *testing.T) {
	dir := t.TempDir()
	var sums [][32]byte
	for i := range 23 {
		sub := filepath.Join(dir, fmt.Sprintf("study%d", i%3))
		os.MkdirAll(sub, 0o755)
		b := bytes.Repeat([]byte{byte(i)}, 1000+i*37) // odd and even sizes
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("%05d.dcm", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		sums = append(sums, sha256.Sum256(b))
	}
	os.WriteFile(filepath.Join(dir, "manifest.tsv"), []byte("not dicom"), 0o644)
	for _, c := range []struct {
		clients  int
		prebuilt bool
	}{{1, false}, {3, false}, {3, true}} {
		clients := c.clients
		t.Run(fmt.Sprintf("clients=%d,prebuilt=%v", clients, c.prebuilt), func(t *testing.T) {
			f, base := newFakeServer(t, 0)
			args := []string{"stow", "-url", base, "-dir", dir, "-clients", strconv.Itoa(clients), "-batch", "5"}
			bodies := filepath.Join(t.TempDir(), "bodies")
			if c.prebuilt {
				args = append(args, "-body-dir", bodies)
			}
			m := runLine(t, args...)[0]
			if left, _ := os.ReadDir(bodies); len(left) != 0 {
				t.Errorf("%d prebuilt bodies left", len(left))
			}
			if m["name"] != fmt.Sprintf("stow_c%d", clients) || m["instances"] != "23" || m["stored"] != "23" ||
				m["errors"] != "0" || m["status_200"] != "5" {
				t.Errorf("result %v", m)
			}
			if num(t, m, "instances_per_s") <= 0 || num(t, m, "mb_per_s") <= 0 {
				t.Errorf("rates not positive: %v", m)
			}
			for _, s := range sums {
				if f.received[s] != 1 {
					t.Errorf("file received %d times, want 1", f.received[s])
				}
			}
			if len(f.received) != len(sums) {
				t.Errorf("server received %d distinct parts, want %d", len(f.received), len(sums))
			}
		})
	}
}

// TestStowNodes sends to three servers at once, as to three nodes sharing
// one index: 4 clients round-robin give the first node two concurrent
// clients and the others one; every part arrives once, somewhere.
func TestStowNodes(t *testing.T) {
	dir := t.TempDir()
	const files = 40
	for i := range files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%05d.dcm", i)), bytes.Repeat([]byte{byte(i)}, 500+i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var fakes []*fakeServer
	var bases []string
	for range 3 {
		f, base := newFakeServer(t, 0)
		fakes = append(fakes, f)
		bases = append(bases, base)
	}
	m := runLine(t, "stow", "-url", strings.Join(bases, ",")+"/", "-dir", dir, "-clients", "4", "-batch", "2")[0]
	if m["nodes"] != "3" || m["stored"] != strconv.Itoa(files) || m["status_200"] != strconv.Itoa(files/2) {
		t.Errorf("result %v", m)
	}
	total := 0
	for i, f := range fakes {
		f.mu.Lock()
		if f.requests == 0 {
			t.Errorf("node %d got no request", i)
		}
		for _, n := range f.received {
			total += n
		}
		f.mu.Unlock()
	}
	if total != files {
		t.Errorf("%d parts received over the nodes, want %d", total, files)
	}
	if err := run(context.Background(), []string{"stow", "-url", bases[0] + ",," + bases[1], "-dir", dir}, io.Discard, io.Discard); err == nil {
		t.Error("an empty URL in the list: no error")
	}
}

func TestStowReportsHTTPErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		http.Error(w, "nope", http.StatusUnsupportedMediaType)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	for i := range 3 {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.dcm", i)), []byte("xx"), 0o644)
	}
	m := runLine(t, "stow", "-url", srv.URL, "-dir", dir, "-batch", "2")[0]
	if m["status_415"] != "2" || m["stored"] != "0" {
		t.Errorf("result %v", m)
	}
}

func TestQIDO(t *testing.T) {
	f, base := newFakeServer(t, 3)
	lines := runLine(t, "qido", "-url", base, "-n", "20", "-clients", "2",
		"-query", "qido_pn_exact|PatientName=Müller^Jürgen&limit=25",
		"-query", "PatientName=Sch*")
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	if lines[0]["name"] != "qido_pn_exact" || lines[1]["name"] != "qido_2" {
		t.Errorf("names %q %q", lines[0]["name"], lines[1]["name"])
	}
	for _, m := range lines {
		if m["n"] != "20" || m["matches"] != "1" || m["errors"] != "0" || m["status_200"] != "20" {
			t.Errorf("result %v", m)
		}
		if num(t, m, "p50_ms") <= 0 || num(t, m, "p99_ms") < num(t, m, "p50_ms") {
			t.Errorf("percentiles %v", m)
		}
	}
	if f.lastQIDO != "PatientName=Sch%2A" {
		t.Errorf("last query sent as %q", f.lastQIDO)
	}
}

func TestQIDORaw(t *testing.T) {
	f, base := newFakeServer(t, 1)
	runLine(t, "qido", "-url", base, "-n", "1", "-raw", "-query", "PatientName=Doe^J*&limit=25")
	f.mu.Lock()
	got := f.lastQIDO
	f.mu.Unlock()
	if got != "PatientName=Doe^J*&limit=25" {
		t.Errorf("raw query sent as %q", got)
	}
	runLine(t, "qido", "-url", base, "-n", "1", "-query", "PatientName=Doe^J*")
	f.mu.Lock()
	got = f.lastQIDO
	f.mu.Unlock()
	if got != "PatientName=Doe%5EJ%2A" {
		t.Errorf("encoded query sent as %q", got)
	}
}

func TestSeriesCommands(t *testing.T) {
	const n = 17 // more than the fake server's page size of 7
	_, base := newFakeServer(t, n)
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, m map[string]string)
	}{
		{"discover", []string{"discover", "-url", base, "-filter", "PatientID=X"}, func(t *testing.T, m map[string]string) {
			if m["study"] != "1.2.3" || m["series"] != fakeBigSeries || m["instances"] != strconv.Itoa(n) {
				t.Errorf("%v", m)
			}
		}},
		{"wado-series", []string{"wado-series", "-url", base, "-filter", "PatientID=X", "-n", "2"}, func(t *testing.T, m map[string]string) {
			if m["parts"] != strconv.Itoa(n) || m["errors"] != "0" || m["status_200"] != "2" || num(t, m, "mb_per_s") <= 0 {
				t.Errorf("%v", m)
			}
		}},
		{"wado-series explicit", []string{"wado-series", "-url", base, "-study", "1.2.3", "-series", fakeBigSeries, "-n", "1"}, func(t *testing.T, m map[string]string) {
			if m["parts"] != strconv.Itoa(n) || m["errors"] != "0" {
				t.Errorf("%v", m)
			}
		}},
		{"wado-series unknown", []string{"wado-series", "-url", base, "-study", "9.9", "-series", "9.9", "-n", "1"}, func(t *testing.T, m map[string]string) {
			if m["status_404"] != "1" || m["errors"] != "1" {
				t.Errorf("%v", m)
			}
		}},
		{"metadata", []string{"metadata", "-url", base, "-filter", "PatientID=X", "-n", "10"}, func(t *testing.T, m map[string]string) {
			if m["instances"] != strconv.Itoa(n) || m["n"] != "10" || m["errors"] != "0" {
				t.Errorf("%v", m)
			}
		}},
		{"frames", []string{"frames", "-url", base, "-filter", "PatientID=X", "-clients", "3", "-rounds", "2", "-expect-bytes", "512"}, func(t *testing.T, m map[string]string) {
			if m["name"] != "frames_c3" || m["instances"] != strconv.Itoa(n) || m["frames"] != strconv.Itoa(2*n) || m["errors"] != "0" || num(t, m, "frames_per_s") <= 0 {
				t.Errorf("%v", m)
			}
		}},
		{"rendered", []string{"rendered", "-url", base, "-filter", "PatientID=X", "-clients", "2", "-rounds", "2"}, func(t *testing.T, m map[string]string) {
			if m["name"] != "rendered_c2" || m["images"] != strconv.Itoa(2*n) || m["mean_bytes"] != "10" || m["errors"] != "0" || num(t, m, "images_per_s") <= 0 {
				t.Errorf("%v", m)
			}
		}},
		{"rendered not an image", []string{"rendered", "-url", base, "-filter", "PatientID=X", "-accept", "image/png"}, func(t *testing.T, m map[string]string) {
			if m["images"] != "0" || m["errors"] != strconv.Itoa(n) {
				t.Errorf("%v", m)
			}
		}},
		{"rendered absent", []string{"rendered", "-url", base, "-study", "1.2.3", "-series", fakeBigSeries, "-accept", "image/gif"}, func(t *testing.T, m map[string]string) {
			if m["images"] != "0" || m["status_406"] != strconv.Itoa(n) || m["errors"] != "0" {
				t.Errorf("%v", m)
			}
		}},
		{"frames wrong size", []string{"frames", "-url", base, "-filter", "PatientID=X", "-rounds", "1", "-expect-bytes", "100"}, func(t *testing.T, m map[string]string) {
			if m["frames"] != "0" || m["errors"] != strconv.Itoa(n) {
				t.Errorf("%v", m)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, runLine(t, tc.args...)[0])
		})
	}
}

func TestBaselines(t *testing.T) {
	m := runLine(t, "baseline-disk", "-dir", t.TempDir(), "-n", "5", "-size", "4096")[0]
	if m["files"] != "5" || num(t, m, "files_per_s") <= 0 {
		t.Errorf("%v", m)
	}
	if m := runLine(t, "baseline-sha256", "-mb", "5")[0]; m["mb"] != "5.00" || num(t, m, "mb_per_s") <= 0 {
		t.Errorf("%v", m)
	}
	lines := runLine(t, "baseline-http", "-mb", "20", "-request-mb", "5", "-clients", "2")
	if len(lines) != 2 || lines[0]["mb"] != "20.00" || lines[1]["mb"] != "20.00" {
		t.Errorf("%v", lines)
	}
}

func TestWaitAndFreePort(t *testing.T) {
	_, base := newFakeServer(t, 0)
	root := strings.TrimSuffix(base, "/dicomweb")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"wait", "-url", root, "-timeout", "5s"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"wait", "-url", root, "-path", "system", "-timeout", "5s"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"wait", "-url", root + "/nothing", "-timeout", "300ms"}, &out, io.Discard); err == nil {
		t.Error("wait succeeded on a 404")
	}
	out.Reset()
	if err := run(context.Background(), []string{"freeport"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if p, err := strconv.Atoi(strings.TrimSpace(out.String())); err != nil || p <= 0 || p > 65535 {
		t.Errorf("freeport printed %q", out.String())
	}
}

func TestUsageErrors(t *testing.T) {
	tests := [][]string{
		nil,
		{"nope"},
		{"stow"},
		{"stow", "-url", "http://127.0.0.1:1", "-dir", t.TempDir()}, // no files
		{"qido", "-url", "http://127.0.0.1:1"},
		{"qido", "-url", "http://127.0.0.1:1", "-query", "bad label|x=1"},
		{"frames", "-url", "http://127.0.0.1:1"},
		{"metadata", "-study", "1"},
		{"baseline-disk"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
				t.Errorf("run %v succeeded", args)
			}
		})
	}
}

func TestMultipartBodyLength(t *testing.T) {
	dir := t.TempDir()
	var files []dicomFile
	for i, size := range []int{0, 1, 4097, 70000} {
		p := filepath.Join(dir, fmt.Sprintf("%d.dcm", i))
		os.WriteFile(p, bytes.Repeat([]byte{'a' + byte(i)}, size), 0o644)
		files = append(files, dicomFile{path: p, size: int64(size)})
	}
	body := newMultipartBody("b0undary", files)
	got, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(got)) != body.contentLength() {
		t.Errorf("read %d bytes, contentLength %d", len(got), body.contentLength())
	}
	mr := multipart.NewReader(bytes.NewReader(got), "b0undary")
	for i := range files {
		p, err := mr.NextRawPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		b, _ := io.ReadAll(p)
		if int64(len(b)) != files[i].size {
			t.Errorf("part %d: %d bytes, want %d", i, len(b), files[i].size)
		}
	}
	if _, err := mr.NextRawPart(); err != io.EOF {
		t.Errorf("after last part: %v", err)
	}
	// A file that shrank after listing is an error, not a short body.
	os.Truncate(files[3].path, 10)
	if _, err := io.ReadAll(newMultipartBody("b", files)); err == nil {
		t.Error("shrunk file not reported")
	}
}
