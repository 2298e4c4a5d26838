package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/kind"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/storage/disk"
)

// objectCount counts the objects of the disk store under dir.
func objectCount(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(filepath.Join(dir, "objects"), func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// TestBatch: a batch's results follow the order of Add and Refuse; an
// oversized part fails with 0xA700 and is read to its end; an instance of
// another study than the batch's fails with 0xA900; nothing is visible
// before Commit; the whole batch costs one index commit.
func TestBatch(t *testing.T) {
	g, idx, _, dir := setup(t)
	ctx := context.Background()
	ct := sharedFile(t, "test_files/CT_small.dcm")
	mr := sharedFile(t, "test_files/MR_small.dcm")
	g.lim.MaxPartBytes = int64(max(len(ct), len(mr)))
	big := bytes.NewReader(make([]byte, g.lim.MaxPartBytes+1))

	b := g.Begin(ctx, "")
	for _, r := range []io.Reader{bytes.NewReader(ct), big} {
		if err := b.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	b.Refuse(Result{Failure: FailureCannotUnderstand, NotDICOM: true})
	if err := b.Add(ctx, bytes.NewReader(mr)); err != nil {
		t.Fatal(err)
	}
	if big.Len() != 0 {
		t.Errorf("oversized part: %d bytes left unread", big.Len())
	}
	if b.Len() != 4 {
		t.Fatalf("Len = %d, want 4", b.Len())
	}
	if n := countInstances(t, idx); n != 0 {
		t.Fatalf("%d instances visible before Commit", n)
	}
	c0, _ := idx.Commits()
	res := b.Commit(ctx)
	if c1, _ := idx.Commits(); c1-c0 != 1 {
		t.Errorf("Commit took %d index commits, want 1", c1-c0)
	}
	want := []uint16{0, FailureOutOfResources, FailureCannotUnderstand, 0}
	for i, r := range res {
		if r.Failure != want[i] {
			t.Errorf("result %d: failure %#x, want %#x (%v)", i, r.Failure, want[i], r.Err)
		}
	}
	if res[0].Size != int64(len(ct)) || res[3].Size != int64(len(mr)) || !res[2].NotDICOM {
		t.Errorf("results: %+v", res)
	}
	if n := countInstances(t, idx); n != 2 {
		t.Errorf("%d instances after Commit, want 2", n)
	}
	if n := objectCount(t, dir); n != 2 {
		t.Errorf("%d objects after Commit, want 2", n)
	}

	// The batch names a study: an instance of another fails with 0xA900.
	b = g.Begin(ctx, res[0].StudyUID)
	if err := b.Add(ctx, bytes.NewReader(ct)); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(ctx, bytes.NewReader(mr)); err != nil {
		t.Fatal(err)
	}
	res = b.Commit(ctx)
	if res[0].Failure != 0 || !res[0].Existed || res[1].Failure != FailureDataSetMismatch {
		t.Errorf("study check: %+v", res)
	}
	if ents, _ := os.ReadDir(g.spoolDir); len(ents) != 0 {
		t.Errorf("%d spool files left", len(ents))
	}
}

// TestBatchAbort: an aborted batch leaves no instance, no object and no
// spool file, even when its parts were written already; a read error
// during Add is reported.
func TestBatchAbort(t *testing.T) {
	g, idx, _, dir := setup(t)
	ctx := context.Background()
	b := g.Begin(ctx, "")
	for _, f := range []string{"test_files/CT_small.dcm", "test_files/MR_small.dcm"} {
		if err := b.Add(ctx, bytes.NewReader(sharedFile(t, f))); err != nil {
			t.Fatal(err)
		}
	}
	broken := &errAfter{r: bytes.NewReader(make([]byte, 1000)), err: errors.New("connection reset")}
	if err := b.Add(ctx, broken); err == nil {
		t.Fatal("Add of a broken reader: no error")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	b.Abort(cctx) // runs to its end although ctx is cancelled
	if n := countInstances(t, idx); n != 0 {
		t.Errorf("%d instances after Abort", n)
	}
	if n := objectCount(t, dir); n != 0 {
		t.Errorf("%d objects after Abort", n)
	}
	if ents, _ := os.ReadDir(g.spoolDir); len(ents) != 0 {
		t.Errorf("%d spool files left", len(ents))
	}
	if c, w := g.Queue(); c != 0 || w != 0 {
		t.Errorf("Queue = %d, %d after the batch", c, w)
	}
}

func countInstances(t *testing.T, idx *index.Index) int {
	t.Helper()
	n := 0
	err := idx.Search(context.Background(), index.Query{Level: index.LevelInstance}, func(*index.Result) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDelete removes a study's index entries and objects; an unknown
// study is of kind NotFound.
func TestDelete(t *testing.T) {
	g, idx, _, dir := setup(t)
	ctx := context.Background()
	b := g.Begin(ctx, "")
	if err := b.Add(ctx, bytes.NewReader(sharedFile(t, "test_files/CT_small.dcm"))); err != nil {
		t.Fatal(err)
	}
	res := b.Commit(ctx)
	if res[0].Failure != 0 {
		t.Fatal(res[0].Err)
	}
	n, err := g.Delete(ctx, res[0].StudyUID, "", "")
	if err != nil || n != 1 {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	if c := countInstances(t, idx); c != 0 {
		t.Errorf("%d instances left", c)
	}
	if c := objectCount(t, dir); c != 0 {
		t.Errorf("%d objects left", c)
	}
	if _, err := g.Delete(ctx, res[0].StudyUID, "", ""); !errors.Is(err, kind.NotFound) {
		t.Errorf("second Delete: %v, want kind NotFound", err)
	}
}

// storeOne stores in through a one-part batch.
func storeOne(t *testing.T, g *Ingester, in []byte) Result {
	t.Helper()
	ctx := context.Background()
	b := g.Begin(ctx, "")
	if err := b.Add(ctx, bytes.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	return b.Commit(ctx)[0]
}

// withMeta returns a Part-10 object with the data set of in behind
// another file meta group: the implementation version name (0002,0013)
// changed, as another front door or tool would write it.
func withMeta(t *testing.T, in []byte) []byte {
	t.Helper()
	i := bytes.Index(in[:1024], []byte{0x02, 0x00, 0x13, 0x00})
	if i < 0 {
		t.Skip("no implementation version name in the test file")
	}
	out := bytes.Clone(in)
	n := int(binary.LittleEndian.Uint16(out[i+6:]))
	for k := range n {
		out[i+8+k] = 'Z'
	}
	return out
}

// TestDuplicatePolicy: the same data set behind another file meta group
// is the same instance (Existed, not 0x0111); other content for a stored
// SOP Instance UID fails with 0x0111 under the reject policy and replaces
// the stored instance under the replace policy.
func TestDuplicatePolicy(t *testing.T) {
	ct := sharedFile(t, "test_files/CT_small.dcm")
	other := bytes.Clone(ct)
	px, _ := topElement(t, ct, part10.TagPixelData)
	other[px.Offset+int64(px.Length)-1] ^= 0xFF // same UIDs, other pixel data
	for _, replace := range []bool{false, true} {
		t.Run(fmt.Sprintf("replace=%v", replace), func(t *testing.T) {
			dir := t.TempDir()
			store, err := disk.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			idx, err := index.Open(context.Background(), filepath.Join(dir, "index.db"), index.Options{Replace: replace})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { idx.Close() })
			g, err := New(store, idx, Config{SpoolDir: filepath.Join(dir, "spool")})
			if err != nil {
				t.Fatal(err)
			}
			if r := storeOne(t, g, ct); r.Failure != 0 || r.Existed {
				t.Fatalf("first store: %+v", r)
			}
			if r := storeOne(t, g, withMeta(t, ct)); r.Failure != 0 || !r.Existed {
				t.Errorf("same data set, other meta group: %+v, want an existing instance", r)
			}
			r := storeOne(t, g, other)
			switch {
			case !replace && r.Failure != FailureDuplicate:
				t.Errorf("other content, reject: failure %#x, want 0x0111", r.Failure)
			case replace && (r.Failure != 0 || r.Existed):
				t.Errorf("other content, replace: %+v, want stored", r)
			}
			if n := objectCount(t, dir); n != 1 {
				t.Errorf("%d objects, want 1", n)
			}
		})
	}
}
