package index_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
)

func TestForEachInstance(t *testing.T) {
	ix, _ := openTest(t, index.Options{})
	ctx := context.Background()
	const n = 2100 // more than two batches
	if err := indextest.Populate(ctx, ix, n, func(i int) *index.Instance { return indextest.Instance(i) }); err != nil {
		t.Fatal(err)
	}
	var got []index.Ref
	if err := ix.ForEachInstance(ctx, func(r index.Ref) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d instances, want %d", len(got), n)
	}
	if !slices.IsSortedFunc(got, func(a, b index.Ref) int { return cmpStr(a.SOPInstanceUID, b.SOPInstanceUID) }) {
		t.Error("not in SOP Instance UID order")
	}
	for _, i := range []int{0, 999, 1000, 1001, 2099} {
		r := got[i]
		want, err := ix.Lookup(ctx, r.SOPInstanceUID)
		if err != nil {
			t.Fatal(err)
		}
		want.Layout = nil
		if r.Layout != nil || !reflect.DeepEqual(r, *want) {
			t.Errorf("instance %d: %+v, want %+v", i, r, *want)
		}
	}
	stop := errors.New("stop")
	calls := 0
	if err := ix.ForEachInstance(ctx, func(index.Ref) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("stop: %v after %d calls", err, calls)
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestHotBackup copies the index while writers keep committing: the copy
// passes bbolt's check and holds every instance committed before the
// backup started, with consistent counts.
func TestHotBackup(t *testing.T) {
	ix, _ := openTest(t, index.Options{})
	ctx := context.Background()
	if err := indextest.Populate(ctx, ix, 400, func(i int) *index.Instance { return indextest.Instance(i) }); err != nil {
		t.Fatal(err)
	}
	var (
		mu        sync.Mutex
		committed = map[string]bool{}
		next      atomic.Int64
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	next.Store(400)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				in := indextest.Instance(int(next.Add(1)))
				if _, err := ix.Put(ctx, in); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				committed[in.SOPInstanceUID] = true
				mu.Unlock()
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	before := make([]string, 0, len(committed))
	for sop := range committed {
		before = append(before, sop)
	}
	mu.Unlock()
	_, putsBefore := ix.Commits()
	path := filepath.Join(t.TempDir(), "backup.db")
	n, err := ix.BackupFile(ctx, path)
	_, putsAfter := ix.Commits()
	time.Sleep(20 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != n {
		t.Fatalf("backup file: %v, size vs %d", err, n)
	}
	t.Logf("backup of %d bytes; %d puts committed during the backup", n, putsAfter-putsBefore)
	if err := index.CheckFile(ctx, path); err != nil {
		t.Fatal(err)
	}
	bk, err := index.Open(ctx, path, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	for _, sop := range append(before, indextest.Instance(0).SOPInstanceUID, indextest.Instance(399).SOPInstanceUID) {
		if _, err := bk.Lookup(ctx, sop); err != nil {
			t.Fatalf("instance committed before the backup: %v", err)
		}
	}
	_, _, insts, err := bk.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	walked := 0
	if err := bk.ForEachInstance(ctx, func(index.Ref) error { walked++; return nil }); err != nil {
		t.Fatal(err)
	}
	if walked != insts || walked < 400+len(before) {
		t.Errorf("backup: %d instances walked, %d counted, at least %d committed before", walked, insts, 400+len(before))
	}
}

// TestBackupRestore: an index restored from a backup answers every query
// and metadata request exactly as the original.
func TestBackupRestore(t *testing.T) {
	ix, _ := openTest(t, index.Options{})
	ctx := context.Background()
	gen := func(i int) *index.Instance {
		// 60 studies of up to 3 series of up to 4 instances.
		st, se := i/12, (i/4)%3
		return indextest.Instance(i, indextest.Study(indextest.UIDRoot+".1."+itoa(st)),
			indextest.Series(indextest.UIDRoot+".2."+itoa(st)+"."+itoa(se), itoa(se+1), []string{"CT", "MR", "US"}[se]),
			indextest.SOP(indextest.UIDRoot+".3."+itoa(i), itoa(i%4+1)))
	}
	if err := indextest.Populate(ctx, ix, 720, gen); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := ix.Backup(ctx, &buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("Backup: %d bytes, %v (buffer %d)", n, err, buf.Len())
	}
	restored := filepath.Join(t.TempDir(), "index.db")
	if err := index.WriteBackupFile(ctx, restored, func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err }); err != nil {
		t.Fatal(err)
	}
	rx, err := index.Open(ctx, restored, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	queries := []index.Query{
		{Level: index.LevelStudy},
		{Level: index.LevelSeries},
		{Level: index.LevelInstance},
		{Level: index.LevelStudy, Filters: []index.Filter{{Tag: 0x00080061, VR: "CS", Kind: index.MatchSingle, Values: []string{"MR"}}}},
		{Level: index.LevelInstance, StudyUID: indextest.UIDRoot + ".1.7", Limit: 5, Offset: 2},
		{Level: index.LevelStudy, Encoded: true, Limit: 10},
	}
	for _, q := range queries {
		a, b := search(t, ix, q), search(t, rx, q)
		if len(a) == 0 || !reflect.DeepEqual(a, b) {
			t.Errorf("query %+v: %d results from the original, %d from the restored copy, equal=%v", q, len(a), len(b), reflect.DeepEqual(a, b))
		}
	}
	for i := 0; i < 720; i += 37 {
		in := gen(i)
		var a, b [][]byte
		if err := ix.Metadata(ctx, in.StudyUID, "", "", func(j []byte) error { a = append(a, bytes.Clone(j)); return nil }); err != nil {
			t.Fatal(err)
		}
		if err := rx.Metadata(ctx, in.StudyUID, "", "", func(j []byte) error { b = append(b, bytes.Clone(j)); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(a) == 0 || !reflect.DeepEqual(a, b) {
			t.Errorf("study %s metadata differs", in.StudyUID)
		}
	}
}

func TestBackupFailures(t *testing.T) {
	ix, _ := openTest(t, index.Options{})
	ctx := context.Background()
	if err := indextest.Populate(ctx, ix, 50, func(i int) *index.Instance { return indextest.Instance(i) }); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	if _, err := ix.BackupFile(ctx, good); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := ix.BackupFile(cctx, filepath.Join(dir, "x.db")); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("cancelled mid-copy", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		w := &cancelAfter{cancel: cancel, after: 4096}
		if _, err := ix.Backup(cctx, w); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
	})
	corrupt := func(f func(b []byte) []byte) func(w io.Writer) error {
		return func(w io.Writer) error { _, err := w.Write(f(bytes.Clone(data))); return err }
	}
	tests := []struct {
		name  string
		write func(w io.Writer) error
	}{
		{"truncated", corrupt(func(b []byte) []byte { return b[:len(b)/2] })},
		{"garbage", corrupt(func(b []byte) []byte { return bytes.Repeat([]byte{0x5a}, len(b)) })},
		{"page headers", corrupt(func(b []byte) []byte {
			for off := 3 * 4096; off+16 <= len(b); off += 4096 {
				b[off+8], b[off+9] = 0xff, 0xff // page flags
			}
			return b
		})},
		{"empty", corrupt(func([]byte) []byte { return nil })},
		{"write error", func(w io.Writer) error { return errors.New("connection reset") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "keep.db"), data, 0o600); err != nil {
				t.Fatal(err)
			}
			err := index.WriteBackupFile(ctx, filepath.Join(dir, "keep.db"), tt.write)
			if err == nil {
				t.Fatal("bad backup accepted")
			}
			t.Log(err)
			// The old file is untouched and no temporary file is left.
			if got, _ := os.ReadFile(filepath.Join(dir, "keep.db")); !bytes.Equal(got, data) {
				t.Error("existing file changed")
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 2 {
				t.Errorf("%d files in the directory, want 2", len(ents))
			}
		})
	}
}

type cancelAfter struct {
	cancel func()
	after  int
	n      int
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.n += len(p)
	if c.n >= c.after {
		c.cancel()
	}
	return len(p), nil
}
