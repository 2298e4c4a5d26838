package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var testNode = Node{App: "minipacs", Host: "test"}

func openLog(t testing.TB, path string, opt Options) *Log {
	t.Helper()
	opt.Node = testNode
	l, err := Open(context.Background(), path, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func sampleRecord(i int) Record {
	return testNode.Transferred(Read, User{ID: fmt.Sprintf("user%d", i), Remote: "192.0.2.1"},
		[]StudyRef{{StudyUID: fmt.Sprintf("1.2.%d", i), PatientID: "P", PatientName: "Doe^Jane"}}, Success, "")
}

// writeN writes n records from 16 goroutines and returns the log path.
func writeN(t testing.TB, n int, opt Options) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, path, opt)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 16 {
				errs <- l.Record(context.Background(), sampleRecord(i))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if l.Seq() != uint64(n) {
		t.Fatalf("Seq = %d, want %d", l.Seq(), n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(b, []byte("\n"))
}

func TestConcurrentChainVerifies(t *testing.T) {
	path := writeN(t, 1000, Options{})
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	res, err := VerifyPath(path)
	if err != nil || res.Broken != nil || res.Records != 1000 || res.FirstSeq != 1 || res.LastSeq != 1000 || !res.StartChecked {
		t.Fatalf("VerifyPath = %+v, %v", res, err)
	}
	// Every user's record is there exactly once.
	seen := map[string]int{}
	for _, line := range readLines(t, path) {
		if len(line) == 0 {
			continue
		}
		var l struct {
			Record Record `json:"record"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatal(err)
		}
		seen[l.Record.ActiveParticipants[1].UserID]++
		if l.Record.EventDateTime.Location().String() != "UTC" {
			t.Fatalf("time not UTC: %v", l.Record.EventDateTime)
		}
	}
	for i := 0; i < 1000; i++ {
		if seen[fmt.Sprintf("user%d", i)] != 1 {
			t.Fatalf("user%d: %d records", i, seen[fmt.Sprintf("user%d", i)])
		}
	}
}

// TestTamper damages a good log in several ways and checks that Verify
// names the first damaged record.
func TestTamper(t *testing.T) {
	path := writeN(t, 200, Options{})
	orig := readLines(t, path)
	join := func(lines [][]byte) []byte { return bytes.Join(lines, nil) }
	clone := func() [][]byte {
		c := make([][]byte, len(orig))
		for i := range orig {
			c[i] = append([]byte(nil), orig[i]...)
		}
		return c
	}
	tests := []struct {
		name     string
		damage   func() []byte
		wantLine int
		wantSeq  uint64
		reason   string
	}{
		{"flip a byte in the record", func() []byte {
			l := clone()
			i := bytes.Index(l[99], []byte("user"))
			l[99][i+1] ^= 0x01
			return join(l)
		}, 100, 100, "hash mismatch"},
		{"flip a byte in the hash", func() []byte {
			l := clone()
			l[49][len(l[49])-5] ^= 0x01
			return join(l)
		}, 50, 50, "hash"},
		{"flip a byte in the seq", func() []byte {
			l := clone()
			l[9] = bytes.Replace(l[9], []byte(`"seq":10,`), []byte(`"seq":11,`), 1)
			return join(l)
		}, 10, 11, "hash mismatch"},
		{"delete a line", func() []byte {
			l := clone()
			return join(append(l[:120:120], l[121:]...))
		}, 121, 122, "seq 122 follows seq 120"},
		{"swap two lines", func() []byte {
			l := clone()
			l[30], l[31] = l[31], l[30]
			return join(l)
		}, 31, 32, "follows"},
		{"delete the first line", func() []byte { return join(orig[1:]) }, 0, 0, ""}, // a file may start mid-chain
		{"torn tail", func() []byte { b := join(orig); return b[:len(b)-40] }, 200, 0, "torn"},
		{"garbage line", func() []byte {
			l := clone()
			l[5] = []byte("hello\n")
			return join(l)
		}, 6, 0, "no hash"},
		{"rewritten chain from one record on", func() []byte {
			// Re-hashing a changed record is caught by the next prev.
			l := clone()
			seq, prev, _ := parseLine(bytes.TrimSuffix(l[69], []byte("\n")))
			var h lineHead
			json.Unmarshal(append(bytes.TrimSuffix(l[69], []byte("\n"))[:len(l[69])-1-hashSuffixLen], '}'), &h)
			rec := bytes.Replace(h.Record, []byte("user"), []byte("uzer"), 1)
			l[69] = append(encodeLine(seq, prev, rec), '\n')
			return join(l)
		}, 71, 71, "prev does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, bad, err := Verify(bytes.NewReader(tt.damage()))
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantLine == 0 {
				if bad != nil {
					t.Fatalf("unexpected break %v", bad)
				}
				return
			}
			if bad == nil {
				t.Fatalf("damage not detected (%d records)", n)
			}
			if bad.Line != tt.wantLine || bad.Seq != tt.wantSeq || !strings.Contains(bad.Reason, tt.reason) {
				t.Errorf("broken = %v, want line %d seq %d %q", bad, tt.wantLine, tt.wantSeq, tt.reason)
			}
			if n != tt.wantLine-1 {
				t.Errorf("%d intact records before, want %d", n, tt.wantLine-1)
			}
		})
	}
}

func TestTornTailOnReopen(t *testing.T) {
	path := writeN(t, 50, Options{})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A crash mid-write: half of a record, or zero-filled blocks.
	for _, tail := range [][]byte{[]byte(`{"seq":51,"prev":"ab`), make([]byte, 4096)} {
		if err := os.WriteFile(path, append(append([]byte(nil), b...), tail...), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, bad, _ := Verify(bytes.NewReader(append(append([]byte(nil), b...), tail...))); bad == nil || bad.Line != 51 {
			t.Fatalf("torn tail not named: %v", bad)
		}
		l := openLog(t, path, Options{})
		if err := l.Record(context.Background(), sampleRecord(51)); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		res, err := VerifyPath(path)
		if err != nil || res.Broken != nil || res.Records != 52 {
			t.Fatalf("after recovery: %+v %v", res, err)
		}
		lines := readLines(t, path)
		var alert struct {
			Seq    uint64 `json:"seq"`
			Record Record `json:"record"`
		}
		if err := json.Unmarshal(lines[50], &alert); err != nil {
			t.Fatal(err)
		}
		if alert.Seq != 51 || alert.Record.EventID != EventSecurityAlert || !strings.Contains(alert.Record.EventOutcomeDescription, fmt.Sprintf("%d bytes", len(tail))) {
			t.Errorf("record 51 is not the torn-tail alert: %+v", alert)
		}
	}
}

func TestReopenContinuesChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	for round := 0; round < 3; round++ {
		l := openLog(t, path, Options{})
		for i := 0; i < 10; i++ {
			if err := l.Record(context.Background(), sampleRecord(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	res, err := VerifyPath(path)
	if err != nil || res.Broken != nil || res.Records != 30 {
		t.Fatalf("%+v %v", res, err)
	}
	if err := openLog(t, path, Options{}).Record(context.Background(), Record{}); err == nil {
		t.Error("an empty record was accepted")
	}
}

func TestDamagedLastLineRefusesToOpen(t *testing.T) {
	path := writeN(t, 5, Options{})
	b, _ := os.ReadFile(path)
	b[len(b)-20] ^= 1
	os.WriteFile(path, b, 0o600)
	if l, err := Open(context.Background(), path, Options{}); err == nil {
		l.Close()
		t.Fatal("opened a log whose last record was altered")
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	l := openLog(t, path, Options{MaxSize: 8 << 10, NoSync: true})
	for i := 0; i < 300; i++ {
		if err := l.Record(context.Background(), sampleRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	files, err := logFiles(path)
	if err != nil || len(files) < 5 {
		t.Fatalf("files %v %v", files, err)
	}
	res, err := VerifyPath(dir)
	if err != nil || res.Broken != nil || res.Records != 300 {
		t.Fatalf("dir verify %+v %v", res, err)
	}
	// A single later file verifies on its own but says it starts mid-chain.
	res, err = VerifyPath(files[2])
	if err != nil || res.Broken != nil || res.StartChecked || res.FirstSeq == 1 {
		t.Fatalf("file verify %+v %v", res, err)
	}
	// Reopen continues after the newest record, also when the active file
	// is missing (a crash between rename and create).
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, path, Options{MaxSize: 8 << 10})
	last, _ := VerifyPath(files[len(files)-2])
	if l.Seq() != last.LastSeq {
		t.Fatalf("reopened at seq %d, want %d", l.Seq(), last.LastSeq)
	}
	// Removing a whole rotated file breaks the directory chain.
	l.Close()
	os.Remove(files[1])
	res, _ = VerifyPath(dir)
	if res.Broken == nil || !strings.Contains(res.Broken.File, filepath.Base(files[2])) || res.Broken.Line != 1 {
		t.Fatalf("missing file not named: %+v", res.Broken)
	}
	os.Remove(files[0])
	res, _ = VerifyPath(dir)
	if res.Broken == nil || !strings.Contains(res.Broken.Reason, "seq 1") {
		t.Fatalf("missing first file not named: %+v", res.Broken)
	}
}

func TestClosed(t *testing.T) {
	l := openLog(t, filepath.Join(t.TempDir(), "a.log"), Options{})
	l.Close()
	if err := l.Record(context.Background(), sampleRecord(1)); err != ErrClosed {
		t.Errorf("Record after Close = %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	path := writeN(f, 5, Options{NoSync: true})
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("{\"seq\":1}\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, bad, err := Verify(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.Count(b, []byte("\n"))
		if bad == nil && (n != lines || len(b) > 0 && b[len(b)-1] != '\n') {
			t.Fatalf("ok with %d records for %d lines", n, lines)
		}
		if bad != nil && (bad.Line != n+1 || bad.Reason == "") {
			t.Fatalf("broken %v after %d records", bad, n)
		}
	})
}

// BenchmarkRecord measures records/s: one fsync per record (a lone
// writer) against group commit (many concurrent writers), and no fsync.
func BenchmarkRecord(b *testing.B) {
	for _, bc := range []struct {
		name     string
		opt      Options
		parallel bool
	}{
		{"sync-each", Options{MaxBatch: 1}, false},
		{"group-commit-parallel", Options{}, true},
		{"nosync-parallel", Options{NoSync: true}, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := openLog(b, filepath.Join(b.TempDir(), "audit.log"), bc.opt)
			rec := sampleRecord(1)
			ctx := context.Background()
			b.ResetTimer()
			if bc.parallel {
				b.SetParallelism(16)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := l.Record(ctx, rec); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for i := 0; i < b.N; i++ {
					if err := l.Record(ctx, rec); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
