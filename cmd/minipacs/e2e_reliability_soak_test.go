package main_test

// Soak (`make soak`, not in CI; MINIPACS_SOAK=1): 8 STOW + 32 QIDO + 8
// WADO clients against one server for MINIPACS_SOAK_MINUTES (default 10).
// Pass: 0 errors; the server's resident memory under load at the end
// within 10% of that at minute 2 (at a quarter of the run when shorter
// than 10 minutes); its retained memory likewise, plus what bbolt's
// freelist needs for the instances stored in between; and afterwards
// acknowledged = indexed = stored with a clean `minipacs verify`.
//
// Resident memory is the process's anonymous RSS (RssAnon of
// /proc/PID/status: Go heap, stacks, runtime), sampled every second under
// load; the median of the 30 s before the first sample point is compared
// with that of the last 30 s of the run. It stays flat only if no
// request's transient memory grows with the index or the run time: the
// heap grows to twice the live heap at the busiest GC mark, requests in
// flight included, and the runtime returns freed pages to the OS only
// gradually, so RSS follows the largest peak seen so far. File-backed RSS
// is the kernel's page cache of the index file mapped by bbolt: it grows
// with the data, the kernel may drop it at will, and it is not the
// process's own memory: it is printed, not checked.
//
// Retained memory is measured with the clients paused and no request in
// flight, after a forced GC (the server's pprof endpoint, heap?gc=1): the
// live Go heap and the goroutine count. That is what a leak (a growing
// cache, a goroutine or buffer kept per request) increases.

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minipacs/minipacs/index"
)

func TestReliabilitySoak(t *testing.T) {
	if os.Getenv("MINIPACS_SOAK") != "1" {
		t.Skip("soak test: set MINIPACS_SOAK=1 (make soak)")
	}
	minutes := 10.0
	if v := os.Getenv("MINIPACS_SOAK_MINUTES"); v != "" {
		minutes, _ = strconv.ParseFloat(v, 64)
	}
	dur := time.Duration(minutes * float64(time.Minute))
	sampleAt := 2 * time.Minute
	if dur < 10*time.Minute {
		sampleAt = dur / 4
	}
	corpus := genCorpus(t, "-mode", "tiny", "-n", "20000", "-seed", "65")
	pprofAddr := os.Getenv("MINIPACS_SOAK_PPROF") // set to profile the run by hand
	if pprofAddr == "" {
		pprofAddr = freeAddr(t)
	}
	s := startServer(t, diskStore, "--pprof-listen", pprofAddr)
	// gate pauses the clients: each holds it (read) around one request.
	var gate sync.RWMutex
	acks := newAckSet()
	var next, errs, stows, qidos, wados atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var wg sync.WaitGroup
	fail := func(format string, a ...any) {
		if errs.Add(1) <= 20 {
			t.Errorf(format, a...)
		}
	}
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(4)) - 4
				if i >= len(corpus) {
					i = rand.IntN(len(corpus) - 4) // re-sends once the corpus is used up
				}
				batch := corpus[i:min(len(corpus), i+4)]
				// Not cancelled by the end of the run: a request cut by the
				// client after its commit would be indexed but unacknowledged.
				gate.RLock()
				status, body, err := postBatch(context.Background(), client, s.base, batch)
				gate.RUnlock()
				if err != nil || status != 200 {
					fail("STOW: %d %v %.200s", status, err, body)
					continue
				}
				acks.record(status, body, batch)
				stows.Add(1)
			}
		})
	}
	getOK := func(url, accept string) bool {
		gate.RLock()
		defer gate.RUnlock()
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		req.Header.Set("Accept", accept)
		resp, err := client.Do(req)
		if ctx.Err() != nil {
			return true
		}
		if err != nil {
			fail("GET %s: %v", url, err)
			return false
		}
		defer resp.Body.Close()
		n, err := ioDiscard(resp)
		if ctx.Err() != nil {
			return true // the run ended during the body
		}
		if resp.StatusCode == http.StatusNoContent && accept == acceptJSON {
			return true // QIDO without a match (PS3.18 §8.3.4.4.1)
		}
		if resp.StatusCode != 200 || err != nil || n == 0 {
			fail("GET %s: %d %v", url, resp.StatusCode, err)
			return false
		}
		return true
	}
	for range 32 {
		wg.Go(func() {
			for ctx.Err() == nil {
				q := []string{"/studies?limit=100", "/studies?PatientName=W*&fuzzymatching=true", "/series?Modality=CT&limit=50", "/instances?limit=200", "/studies?StudyDate=20230101-20241231&limit=50"}[rand.IntN(5)]
				if getOK(s.url(q), acceptJSON) {
					qidos.Add(1)
				}
			}
		})
	}
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				l := acks.list()
				if len(l) == 0 {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				in := l[rand.IntN(len(l))]
				u, acc := s.url(in.path()), acceptDICOM
				if rand.IntN(2) == 0 {
					u, acc = s.url(in.path()+"/metadata"), acceptJSON
				}
				if getOK(u, acc) {
					wados.Add(1)
				}
			}
		})
	}
	// See the file comment for what is measured and why.
	pid := s.cmd.Process.Pid
	start := time.Now()
	rss := &rssSampler{pid: pid, start: start}
	go rss.run(ctx)
	endStats := make(chan string, 1) // MemStats just before the load ends
	time.AfterFunc(dur-2*time.Second, func() { endStats <- memStats(pprofAddr) })
	// MINIPACS_SOAK_PROFILES=dir also saves the two heap profiles, for
	// `go tool pprof -base dir/heap-1.pb.gz dir/heap-2.pb.gz`.
	quiet := func(profile string) memSample {
		gate.Lock() // waits for the requests in flight
		defer gate.Unlock()
		time.Sleep(500 * time.Millisecond) // handlers finish after their response
		m := memSample{rssAnon: procKB(pid, "RssAnon"), rssFile: procKB(pid, "RssFile"), acked: len(acks.list())}
		var err error
		if m.heap, m.goroutines, err = liveHeap(pprofAddr); err != nil {
			t.Errorf("memory sample: %v", err)
		}
		if dir := os.Getenv("MINIPACS_SOAK_PROFILES"); dir != "" {
			if err := saveProfile(pprofAddr, filepath.Join(dir, profile)); err != nil {
				t.Errorf("save heap profile: %v", err)
			}
		}
		return m
	}
	time.Sleep(sampleAt)
	r1 := rss.window(sampleAt-rssWindow, sampleAt)
	r1.memStats = memStats(pprofAddr)
	m1 := quiet("heap-1.pb.gz")
	wg.Wait()
	r2 := rss.window(dur-rssWindow, dur)
	r2.memStats = <-endStats
	m2 := quiet("heap-2.pb.gz")
	s.stop(syscall.SIGTERM)
	acked := len(acks.list())
	idx, err := index.Open(context.Background(), filepath.Join(s.dataDir, "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, _, indexed, err := idx.Stats(context.Background())
	idx.Close()
	if err != nil {
		t.Fatal(err)
	}
	stored := len(storeKeys(t, s.dataDir, s.args))
	_, av := adminChecks(t, s.dataDir, s.args, s.env)
	// The allowance: 10% of the first sample, plus 512 bytes per instance
	// stored in between for bbolt's freelist, which records, for every page
	// allocated from the free list, the allocating transaction until the
	// page is freed again (its allocs map: it grows with the index file,
	// about 270 bytes per tiny instance measured, and is rebuilt empty at
	// open). A leak of one 2 KiB buffer per STOW request, or of anything per
	// QIDO/WADO request (over 100,000 of them), exceeds it.
	allowed := m1.heap/10 + 512*int64(m2.acked-m1.acked)
	growth := float64(m2.heap-m1.heap) / float64(max(m1.heap, 1))
	fmt.Printf("soak %v: stow=%d qido=%d wado=%d errors=%d acknowledged=%d indexed=%d stored=%d verify-violations=%d\n"+
		"  live-heap@%v=%.1fMiB live-heap@end=%.1fMiB growth=%.1f%% (allowed %.1fMiB for %d instances stored in between) goroutines@%v=%d goroutines@end=%d\n"+
		"  under load, %v windows (median/max of %d and %d samples): anon-rss@%v=%.1f/%.1fMiB anon-rss@end=%.1f/%.1fMiB growth=%.1f%% (allowed 10%%); file-rss@%v=%.0fMiB file-rss@end=%.0fMiB (page cache of the index, not checked)\n"+
		"  go memstats under load: @%v %s; @end %s\n"+
		"  quiet: anon-rss@%v=%dMiB anon-rss@end=%dMiB file-rss@%v=%dMiB file-rss@end=%dMiB\n",
		dur, stows.Load(), qidos.Load(), wados.Load(), errs.Load(), acked, indexed, stored, len(av),
		sampleAt, float64(m1.heap)/(1<<20), float64(m2.heap)/(1<<20), 100*growth, float64(allowed)/(1<<20), m2.acked-m1.acked, sampleAt, m1.goroutines, m2.goroutines,
		rssWindow, r1.n, r2.n, sampleAt, mib(r1.anonMedian), mib(r1.anonMax), mib(r2.anonMedian), mib(r2.anonMax), 100*rssGrowth(r1, r2), sampleAt, mib(r1.fileMedian), mib(r2.fileMedian),
		sampleAt, r1.memStats, r2.memStats,
		sampleAt, m1.rssAnon>>20, m2.rssAnon>>20, sampleAt, m1.rssFile>>20, m2.rssFile>>20)
	if errs.Load() != 0 {
		t.Errorf("%d errors", errs.Load())
	}
	if acked != indexed || indexed != stored {
		t.Errorf("acknowledged %d, indexed %d, stored %d", acked, indexed, stored)
	}
	if r1.n < rssWindowSamples || r2.n < rssWindowSamples {
		t.Errorf("anonymous RSS: %d and %d samples in the windows, want %d each", r1.n, r2.n, rssWindowSamples)
	} else if g := rssGrowth(r1, r2); g > 0.10 {
		t.Errorf("anonymous RSS under load grew by %.1f%% (median %.1f MiB to %.1f MiB), allowed 10%%", 100*g, mib(r1.anonMedian), mib(r2.anonMedian))
	}
	if m1.heap == 0 || m2.heap-m1.heap > allowed {
		t.Errorf("live heap after GC grew by %.1f%% (%d to %d bytes, allowed %d)", 100*growth, m1.heap, m2.heap, allowed)
	}
	// Idle keep-alive connections hold a goroutine each: at most one per
	// client (48) plus a few either way.
	if m2.goroutines > m1.goroutines+8 {
		t.Errorf("goroutines grew from %d to %d", m1.goroutines, m2.goroutines)
	}
	for _, v := range av {
		t.Error(v)
	}
}

// rssWindow is the span of each RSS window, sampled every second; a
// window needs rssWindowSamples samples to count.
const (
	rssWindow        = 30 * time.Second
	rssWindowSamples = 20
)

// rssSampler records the server's RSS every second.
type rssSampler struct {
	pid     int
	start   time.Time
	mu      sync.Mutex
	samples []rssPoint
}

type rssPoint struct {
	at         time.Duration // since start
	anon, file int64
}

// rssStats summarises one window.
type rssStats struct {
	n                               int
	anonMedian, anonMax, fileMedian int64
	memStats                        string // under load, MiB
}

func (r *rssSampler) run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p := rssPoint{at: time.Since(r.start), anon: procKB(r.pid, "RssAnon"), file: procKB(r.pid, "RssFile")}
		if ctx.Err() != nil {
			return // the load ended: not a sample under load
		}
		r.mu.Lock()
		r.samples = append(r.samples, p)
		r.mu.Unlock()
	}
}

// window summarises the samples taken in [from, to).
func (r *rssSampler) window(from, to time.Duration) rssStats {
	r.mu.Lock()
	var anon, file []int64
	for _, p := range r.samples {
		if p.at >= from && p.at < to && p.anon > 0 {
			anon, file = append(anon, p.anon), append(file, p.file)
		}
	}
	r.mu.Unlock()
	st := rssStats{n: len(anon)}
	if len(anon) == 0 {
		return st
	}
	slices.Sort(anon)
	slices.Sort(file)
	st.anonMedian, st.anonMax, st.fileMedian = anon[len(anon)/2], anon[len(anon)-1], file[len(file)/2]
	return st
}

// rssGrowth is the relative growth of the median anonymous RSS.
func rssGrowth(a, b rssStats) float64 {
	return float64(b.anonMedian-a.anonMedian) / float64(max(a.anonMedian, 1))
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// memStats returns a few MemStats of the server (heap?debug=1, no GC) in
// MiB, or the error.
func memStats(pprofAddr string) string {
	resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/heap?debug=1")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, l := range splitLines(string(b)) {
		var inuse, sys int64
		if _, err := fmt.Sscanf(l, "# Stack = %d / %d", &inuse, &sys); err == nil {
			out = append(out, fmt.Sprintf("StackInuse=%.1f StackSys=%.1f", mib(inuse), mib(sys)))
		}
		for _, name := range []string{"HeapAlloc", "HeapInuse", "HeapIdle", "HeapReleased", "HeapSys", "StackSys", "Sys", "NextGC"} {
			var v int64
			if _, err := fmt.Sscanf(l, "# "+name+" = %d", &v); err == nil {
				out = append(out, fmt.Sprintf("%s=%.1f", name, mib(v)))
			}
		}
	}
	return strings.Join(out, " ")
}

// memSample is the server's memory with no request in flight.
type memSample struct {
	heap             int64 // live Go heap after a forced GC (HeapAlloc)
	acked            int   // instances acknowledged so far
	goroutines       int
	rssAnon, rssFile int64
}

// liveHeap forces a GC in the server at pprofAddr (heap?gc=1) and returns
// its HeapAlloc afterwards and its goroutine count.
func liveHeap(pprofAddr string) (heap int64, goroutines int, err error) {
	get := func(path string) (string, error) {
		resp, err := http.Get("http://" + pprofAddr + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: %s", path, resp.Status)
		}
		return string(b), err
	}
	// Twice: objects in sync.Pools survive one GC (in the victim cache).
	b, err := get("/debug/pprof/heap?gc=1&debug=1")
	if err == nil {
		b, err = get("/debug/pprof/heap?gc=1&debug=1")
	}
	if err != nil {
		return 0, 0, fmt.Errorf("heap profile: %w", err)
	}
	heap = -1
	for _, l := range splitLines(b) {
		if _, err := fmt.Sscanf(l, "# HeapAlloc = %d", &heap); err == nil {
			break
		}
	}
	if heap < 0 {
		return 0, 0, fmt.Errorf("heap profile: no HeapAlloc line")
	}
	b, err = get("/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, 0, fmt.Errorf("goroutine profile: %w", err)
	}
	if _, err := fmt.Sscanf(b, "goroutine profile: total %d", &goroutines); err != nil {
		return 0, 0, fmt.Errorf("goroutine profile: %w", err)
	}
	return heap, goroutines, nil
}

// saveProfile writes the server's heap profile (after a GC) to path.
func saveProfile(pprofAddr, path string) error {
	resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/heap?gc=1")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func ioDiscard(resp *http.Response) (int64, error) {
	var n int64
	buf := make([]byte, 32<<10)
	for {
		m, err := resp.Body.Read(buf)
		n += int64(m)
		if err != nil {
			if err.Error() == "EOF" {
				return n, nil
			}
			return n, err
		}
	}
}

// procKB returns a "<field>: N kB" line of /proc/<pid>/status, in bytes.
func procKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	var v int64
	for _, l := range splitLines(string(b)) {
		if _, err := fmt.Sscanf(l, field+": %d kB", &v); err == nil {
			return v << 10
		}
	}
	return 0
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
