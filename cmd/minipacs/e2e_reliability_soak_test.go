package main_test

// Soak (`make soak`, not in CI; MINIPACS_SOAK=1): 8 STOW + 32 QIDO + 8
// WADO clients against one server for MINIPACS_SOAK_MINUTES (default 10).
// Pass: 0 errors, RSS at the end within 10% of RSS at minute 2 (at 20% of
// the run when shorter than 10 minutes), and afterwards acknowledged =
// indexed = stored with a clean `minipacs verify`.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
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
		sampleAt = dur / 5
	}
	corpus := genCorpus(t, "-mode", "tiny", "-n", "20000", "-seed", "65")
	s := startServer(t, diskStore)
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
				status, body, err := postBatch(context.Background(), client, s.base, batch)
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
	// The criterion is on anonymous memory (heap, stacks): the file-backed
	// part of RSS is the index's memory map, which grows with the data
	// stored (8 clients keep storing) and is page cache the kernel can
	// reclaim; it is printed too.
	pid := s.cmd.Process.Pid
	time.Sleep(sampleAt)
	rss1, file1 := procKB(pid, "RssAnon"), procKB(pid, "RssFile")
	wg.Wait()
	rss2, file2 := procKB(pid, "RssAnon"), procKB(pid, "RssFile")
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
	growth := float64(rss2-rss1) / float64(max(rss1, 1))
	fmt.Printf("soak %v: stow=%d qido=%d wado=%d errors=%d acknowledged=%d indexed=%d stored=%d anon-rss@%v=%dMiB anon-rss@end=%dMiB growth=%.1f%% file-rss@%v=%dMiB file-rss@end=%dMiB verify-violations=%d\n",
		dur, stows.Load(), qidos.Load(), wados.Load(), errs.Load(), acked, indexed, stored, sampleAt, rss1>>20, rss2>>20, 100*growth,
		sampleAt, file1>>20, file2>>20, len(av))
	if errs.Load() != 0 {
		t.Errorf("%d errors", errs.Load())
	}
	if acked != indexed || indexed != stored {
		t.Errorf("acknowledged %d, indexed %d, stored %d", acked, indexed, stored)
	}
	if growth > 0.10 {
		t.Errorf("anonymous RSS grew by %.1f%%", 100*growth)
	}
	for _, v := range av {
		t.Error(v)
	}
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
