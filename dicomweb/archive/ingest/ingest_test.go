package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"

	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/storage"
	"github.com/minipacs/minipacs/storage/disk"
)

func setup(t *testing.T) (*Ingester, *index.Index, storage.Store, string) {
	t.Helper()
	dir := t.TempDir()
	store, err := disk.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := index.Open(context.Background(), filepath.Join(dir, "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	g, err := New(store, idx, Config{SpoolDir: filepath.Join(dir, "spool")})
	if err != nil {
		t.Fatal(err)
	}
	return g, idx, store, dir
}

func sharedFile(t *testing.T, rel string) []byte { return testcorpus.File(t, rel) }

func TestSpoolZeroesPreambleAndCaps(t *testing.T) {
	g, _, _, _ := setup(t)
	ctx := context.Background()
	in := bytes.Repeat([]byte{0xAB}, 300)
	p, err := g.spool(ctx, bytes.NewReader(in), 300)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	want := bytes.Clone(in)
	clear(want[:128])
	got, _ := os.ReadFile(p.path)
	if !bytes.Equal(got, want) || p.SHA256 != sha256.Sum256(want) || p.Size != 300 {
		t.Fatalf("spooled bytes or hash wrong")
	}
	if _, err := g.spool(ctx, bytes.NewReader(in), 299); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("cap: %v", err)
	}
	ents, _ := os.ReadDir(g.spoolDir)
	if len(ents) != 1 {
		t.Fatalf("a refused part left a spool file: %d files", len(ents))
	}
}

func TestStoreAndRecover(t *testing.T) {
	g, idx, store, _ := setup(t)
	ctx := context.Background()
	ct := sharedFile(t, "test_files/CT_small.dcm")
	p, err := g.spool(ctx, bytes.NewReader(ct), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	res := g.storePart(ctx, p, "")
	if res.Failure != 0 {
		t.Fatalf("store: %#x %v", res.Failure, res.Err)
	}
	ref, err := idx.Lookup(ctx, res.SOPInstanceUID)
	if err != nil {
		t.Fatal(err)
	}

	// A crash between the object write and the index commit leaves a
	// pending spool file and an unreferenced object: Recover removes both,
	// and leaves referenced objects alone.
	orphan := bytes.Clone(ct)
	orphan[len(orphan)-1] ^= 1
	sum := sha256.Sum256(append(make([]byte, 128), orphan[128:]...))
	key := ObjectKey(sum)
	if err := store.Put(ctx, key, bytes.NewReader(orphan), int64(len(orphan))); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		filepath.Join(g.spoolDir, strings.TrimSuffix(filepath.Base(key), ".dcm")+".7.pending"),
		filepath.Join(g.spoolDir, filepath.Base(strings.TrimSuffix(ref.ObjectKey, ".dcm"))+".8.pending"),
		filepath.Join(g.spoolDir, "123-4.part"),
	} {
		if err := os.WriteFile(name, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Get(ctx, key); !storage.IsNotExist(err) {
		t.Errorf("orphan object still there: %v", err)
	}
	if rc, _, err := store.Get(ctx, ref.ObjectKey); err != nil {
		t.Errorf("referenced object removed: %v", err)
	} else {
		rc.Close()
	}
	if ents, _ := os.ReadDir(g.spoolDir); len(ents) != 0 {
		t.Errorf("spool not empty after recovery: %d files", len(ents))
	}
}

func TestReindex(t *testing.T) {
	g, idx, store, dir := setup(t)
	ctx := context.Background()
	for _, f := range []string{"test_files/CT_small.dcm", "test_files/MR_small.dcm", "test_files/JPEG2000.dcm"} {
		p, err := g.spool(ctx, bytes.NewReader(sharedFile(t, f)), 1<<24)
		if err != nil {
			t.Fatal(err)
		}
		if res := g.storePart(ctx, p, ""); res.Failure != 0 {
			t.Fatalf("%s: %#x %v", f, res.Failure, res.Err)
		}
	}
	refs := map[string]*index.Ref{}
	idx.Search(ctx, index.Query{Level: index.LevelInstance}, func(r *index.Result) error {
		for _, a := range r.Instance {
			if a.Tag == 0x00080018 {
				ref, _ := idx.Lookup(ctx, a.Values[0])
				refs[a.Values[0]] = ref
			}
		}
		return nil
	})
	if len(refs) != 3 {
		t.Fatalf("indexed %d instances before", len(refs))
	}

	idx2, err := index.Open(ctx, filepath.Join(dir, "rebuilt.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idx2.Close()
	g2, err := New(store, idx2, Config{SpoolDir: filepath.Join(dir, "spool2")})
	if err != nil {
		t.Fatal(err)
	}
	st, err := g2.Reindex(ctx)
	if err != nil || st.Indexed != 3 || st.Skipped != 0 {
		t.Fatalf("reindex: %+v %v", st, err)
	}
	for sop, want := range refs {
		got, err := idx2.Lookup(ctx, sop)
		if err != nil || got.ObjectKey != want.ObjectKey || got.SHA256 != want.SHA256 || !bytes.Equal(got.Layout, want.Layout) {
			t.Errorf("%s: rebuilt ref differs: %v", sop, err)
		}
		var m1, m2 []byte
		idx.Metadata(ctx, want.StudyUID, want.SeriesUID, sop, func(js []byte) error { m1 = bytes.Clone(js); return nil })
		idx2.Metadata(ctx, want.StudyUID, want.SeriesUID, sop, func(js []byte) error { m2 = bytes.Clone(js); return nil })
		if len(m1) == 0 || !bytes.Equal(m1, m2) {
			t.Errorf("%s: rebuilt metadata differs", sop)
		}
	}
}

// errAfter yields data then fails.
type errAfter struct {
	r   *bytes.Reader
	err error
}

func (e *errAfter) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		return n, e.err
	}
	return n, nil
}

// TestSpoolSizes covers the one-buffer path and the pipelined writer
// (parts of several 256 KiB buffers, odd sizes, the cap hit in a later
// buffer, a read error mid-part).
func TestSpoolSizes(t *testing.T) {
	g, _, _, _ := setup(t)
	ctx := context.Background()
	readErr := errors.New("connection reset")
	for _, tc := range []struct {
		name    string
		size    int
		max     int64
		failing bool
		wantErr error
	}{
		{"empty", 0, 1 << 20, false, nil},
		{"one buffer exactly", 256 << 10, 1 << 30, false, nil},
		{"buffer plus one", 256<<10 + 1, 1 << 30, false, nil},
		{"many buffers", 5<<20 + 12345, 1 << 30, false, nil},
		{"cap in a later buffer", 3 << 20, 1<<20 + 7, false, ErrTooLarge},
		{"read error mid-part", 2 << 20, 1 << 30, true, readErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := make([]byte, tc.size)
			for i := range in {
				in[i] = byte(i*7 + i>>9)
			}
			var r io.Reader = bytes.NewReader(in)
			if tc.failing {
				r = &errAfter{r: bytes.NewReader(in), err: readErr}
			}
			p, err := g.spool(ctx, r, tc.max)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				if ents, _ := os.ReadDir(g.spoolDir); len(ents) != 0 {
					t.Fatalf("a failed spool left %d files", len(ents))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			want := bytes.Clone(in)
			clear(want[:min(128, len(want))])
			got, _ := os.ReadFile(p.path)
			if !bytes.Equal(got, want) || p.SHA256 != sha256.Sum256(want) || p.Size != int64(tc.size) {
				t.Fatalf("spooled bytes, hash or size wrong (size %d)", p.Size)
			}
		})
	}
}

// TestSpoolAsyncWriteFailure: a spool file that cannot be written (here
// the spool directory is gone) is reported by Part.Wait, and Check fails
// the instance with 0xA700 (out of resources) instead of failing the
// request; nothing is left behind.
func TestSpoolAsyncWriteFailure(t *testing.T) {
	g, _, _, _ := setup(t)
	ctx := context.Background()
	if err := os.RemoveAll(g.spoolDir); err != nil {
		t.Fatal(err)
	}
	in := sharedFile(t, "test_files/CT_small.dcm")
	p, err := g.spoolAsync(ctx, bytes.NewReader(in), 1<<20)
	if err != nil {
		t.Fatalf("SpoolAsync: %v (a write error belongs to Wait)", err)
	}
	if err := p.Wait(); err == nil {
		t.Fatal("Wait: no error for an unwritable spool")
	}
	pr := g.check(ctx, p, "")
	if res := pr.Result(); res.Failure != FailureOutOfResources {
		t.Fatalf("Check: failure %#x, want %#x", res.Failure, FailureOutOfResources)
	}
	if res := g.commit(ctx, pr); res.Failure != FailureOutOfResources {
		t.Fatalf("Commit: failure %#x", res.Failure)
	}
}

// TestCheckWriteCommit runs the split pipeline the STOW handler uses and
// checks that Abort of a checked, never written instance only drops its
// spool file.
func TestCheckWriteCommit(t *testing.T) {
	g, idx, store, _ := setup(t)
	ctx := context.Background()
	in := sharedFile(t, "test_files/CT_small.dcm")
	// Checked, then aborted before Write: no object, no spool file.
	p, err := g.spoolAsync(ctx, bytes.NewReader(in), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	pr := g.check(ctx, p, "")
	if pr.Result().Failure != 0 {
		t.Fatalf("Check: %+v", pr.Result())
	}
	g.abort(ctx, pr)
	if _, err := storage.Stat(ctx, store, pr.key); !storage.IsNotExist(err) {
		t.Fatalf("aborted instance left an object: %v", err)
	}
	if ents, _ := os.ReadDir(g.spoolDir); len(ents) != 0 {
		t.Fatalf("aborted instance left %d spool files", len(ents))
	}
	// Check, Write, Commit: stored and indexed.
	pr = prepared(t, g, in)
	res := g.commit(ctx, pr)
	if res.Failure != 0 {
		t.Fatalf("Commit: %+v", res)
	}
	if _, err := idx.Lookup(ctx, res.SOPInstanceUID); err != nil {
		t.Fatalf("not indexed: %v", err)
	}
	if ents, _ := os.ReadDir(g.spoolDir); len(ents) != 0 {
		t.Fatalf("%d spool files left after commit", len(ents))
	}
}

// prepared spools in (asynchronously, as the STOW handler does), checks
// it and writes its object.
func prepared(t *testing.T, g *Ingester, in []byte) *Prepared {
	t.Helper()
	p, err := g.spoolAsync(context.Background(), bytes.NewReader(in), 1<<24)
	if err != nil {
		t.Fatal(err)
	}
	pr := g.check(context.Background(), p, "")
	g.write(context.Background(), pr)
	return pr
}

// TestCommitAll commits a request's instances together: distinct ones are
// stored, a second upload of the same SOP Instance UID with other content
// in the same group fails with 0x0111 and leaves no object, and results
// keep the order of the request.
func TestCommitAll(t *testing.T) {
	g, idx, store, _ := setup(t)
	ctx := context.Background()
	ct := sharedFile(t, "test_files/CT_small.dcm")
	other := bytes.Clone(ct)
	other[len(other)-1] ^= 0xFF // same UIDs, other pixel data
	var prs []*Prepared
	for _, in := range [][]byte{sharedFile(t, "test_files/MR_small.dcm"), ct, other} {
		prs = append(prs, prepared(t, g, in))
	}
	otherKey := prs[2].key
	c0, _ := idx.Commits()
	res := g.commitAll(ctx, prs)
	if c1, _ := idx.Commits(); c1-c0 != 1 {
		t.Errorf("CommitAll took %d index commits, want 1", c1-c0)
	}
	if res[0].Failure != 0 || res[1].Failure != 0 || res[0].SOPInstanceUID == res[1].SOPInstanceUID {
		t.Fatalf("results out of order or failed: %+v", res[:2])
	}
	if res[2].Failure != FailureDuplicate {
		t.Fatalf("conflicting member: failure %#x, want %#x", res[2].Failure, FailureDuplicate)
	}
	if _, err := storage.Stat(ctx, store, otherKey); !storage.IsNotExist(err) {
		t.Errorf("the refused member's object is still stored: %v", err)
	}
	if ents, _ := os.ReadDir(g.spoolDir); len(ents) != 0 {
		t.Errorf("%d spool files left", len(ents))
	}
}

// TestCommitAllConcurrentIdentical: the same instances uploaded by several
// requests at once (a modality retrying) are all acknowledged, stored once,
// and leave no spool file; interleaved with deletes of the objects'
// unreferenced copies, nothing acknowledged loses its object.
func TestCommitAllConcurrentIdentical(t *testing.T) {
	g, idx, store, _ := setup(t)
	ctx := context.Background()
	files := [][]byte{sharedFile(t, "test_files/CT_small.dcm"), sharedFile(t, "test_files/MR_small.dcm")}
	const requests = 8
	var wg sync.WaitGroup
	results := make([][]Result, requests)
	for r := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prs []*Prepared
			for _, in := range files {
				p, err := g.spoolAsync(ctx, bytes.NewReader(in), 1<<24)
				if err != nil {
					t.Error(err) // not Fatal: another goroutine
					return
				}
				pr := g.check(ctx, p, "")
				g.write(ctx, pr)
				prs = append(prs, pr)
			}
			results[r] = g.commitAll(ctx, prs)
			g.deleteObjects(ctx, prs[0].key, prs[1].key) // kept: the index refers to them
		}()
	}
	wg.Wait()
	for r, res := range results {
		for i, x := range res {
			if x.Failure != 0 {
				t.Errorf("request %d part %d: failure %#x (%v)", r, i, x.Failure, x.Err)
			}
		}
	}
	for _, x := range results[0] {
		ref, err := idx.Lookup(ctx, x.SOPInstanceUID)
		if err != nil {
			t.Fatalf("not indexed: %v", err)
		}
		if _, err := storage.Stat(ctx, store, ref.ObjectKey); err != nil {
			t.Errorf("acknowledged instance lost its object: %v", err)
		}
	}
	if ents, _ := os.ReadDir(g.spoolDir); len(ents) != 0 {
		t.Errorf("%d spool files left", len(ents))
	}
}
