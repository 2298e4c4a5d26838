package main_test

import (
	"bytes"
	"context"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// checkCrash uploads from two goroutines, kills the server with SIGKILL at
// a random moment after ~50 acknowledged instances, restarts it on the same
// data directory and store, and checks that every acknowledged instance is
// there bit-exact and the spool directory is empty.
func checkCrash(t *testing.T, st storeKind, files []*testFile) {
	var ct *testFile
	for _, f := range files {
		if f.rel == "test_files/CT_small.dcm" {
			ct = f
		}
	}
	origUID := ct.metaUID
	origStudy := "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
	origSeries := "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322"
	if !bytes.Contains(ct.data, []byte(origStudy)) || !bytes.Contains(ct.data, []byte(origSeries)) {
		t.Fatal("CT_small.dcm: study/series UIDs not found")
	}
	study, series := sameLengthUID(origStudy, 777), sameLengthUID(origSeries, 777)
	base := replaceUID(t, replaceUID(t, ct.data, origStudy, study), origSeries, series)

	s := startServer(t, st)
	type acked struct {
		uid  string
		data []byte
	}
	var (
		mu      sync.Mutex
		ackList []acked
		next    = 0
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	killAt := 50 + rand.IntN(20)
	killed := make(chan struct{})
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				select {
				case <-killed:
					return
				default:
				}
				mu.Lock()
				next++
				uid := sameLengthUID(origUID, 100000+next)
				mu.Unlock()
				data := bytes.ReplaceAll(base, []byte(origUID), []byte(uid))
				body, ctype := multipartBody(data)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url("/studies"), bytes.NewReader(body))
				req.Header.Set("Content-Type", ctype)
				resp, err := client.Do(req)
				if err != nil {
					continue // the server is gone
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					ackList = append(ackList, acked{uid, data})
					mu.Unlock()
				}
			}
		}()
	}
	// Kill after killAt acknowledgements, at a random moment in the next
	// few milliseconds.
	for {
		mu.Lock()
		n := len(ackList)
		mu.Unlock()
		if n >= killAt || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
	code, _ := s.stop(syscall.SIGKILL)
	close(killed)
	wg.Wait()
	mu.Lock()
	acks := ackList
	mu.Unlock()
	if len(acks) < 50 {
		t.Fatalf("only %d acknowledged instances before the kill (exit code %d)", len(acks), code)
	}
	t.Logf("killed after %d acknowledged instances of %d sent", len(acks), next)

	s2 := startServerDir(t, s.dataDir, s.args, s.env)
	for _, a := range acks {
		r := get(t, s2.url("/studies/"+study+"/series/"+series+"/instances/"+a.uid), acceptDICOM)
		if !expectStatus(t, "acknowledged instance after the crash", r, 200) {
			continue
		}
		parts := readMultipart(t, r, "application/dicom")
		want := bytes.Clone(a.data)
		clear(want[:128])
		if len(parts) != 1 || !bytes.Equal(parts[0].data, want) {
			t.Errorf("instance %s after the crash: not bit-exact", a.uid)
		}
	}
	spool := filepath.Join(s.dataDir, "spool")
	var left []string
	filepath.WalkDir(spool, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("spool directory not empty after restart: %d files, e.g. %s", len(left), left[0])
	}
	if _, err := os.Stat(spool); err != nil {
		t.Logf("spool directory: %v", err)
	}
	// The study is consistent: QIDO counts at least the acknowledged ones.
	r := get(t, s2.url("/studies/"+study+"/series/"+series+"/instances?limit=1000"), acceptJSON)
	if expectStatus(t, "QIDO after the crash", r, 200) {
		_, n, err := normalizeQIDO(r.body, s2.base)
		if err != nil || n < len(acks) {
			t.Errorf("QIDO after the crash: %d instances (%v), want >= %d acknowledged", n, err, len(acks))
		}
	}
}
