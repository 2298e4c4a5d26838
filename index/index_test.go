package index_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
)

func openTest(t testing.TB, opt index.Options) (*index.Index, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "index.db")
	ix, err := index.Open(context.Background(), path, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix, path
}

func mustPut(t testing.TB, ix *index.Index, in *index.Instance) index.PutResult {
	t.Helper()
	res, err := ix.Put(context.Background(), in)
	if err != nil {
		t.Fatalf("Put %s: %v", in.SOPInstanceUID, err)
	}
	return res
}

// seriesSpec builds instance n of a study/series.
func seriesSpec(i int, study, series, seriesNum, mod string, inst int) *index.Instance {
	return indextest.Instance(i,
		indextest.Study(study),
		indextest.Series(series, seriesNum, mod),
		indextest.SOP(fmt.Sprintf("%s.%d", series, inst), fmt.Sprint(inst)))
}

func TestPutLookupRefsMetadata(t *testing.T) {
	ix, _ := openTest(t, index.Options{})
	ctx := context.Background()
	const st = "1.2.3"
	// Series 2 (number 2) is put first, instances out of order.
	var want []string
	for _, c := range []struct {
		series, num, mod string
		insts            []int
	}{
		{"1.2.3.20", "2", "MR", []int{3, 1, 2}},
		{"1.2.3.10", "1", "CT", []int{10, 2}},
	} {
		for _, n := range c.insts {
			mustPut(t, ix, seriesSpec(0, st, c.series, c.num, c.mod, n))
		}
	}
	want = []string{"1.2.3.10.2", "1.2.3.10.10", "1.2.3.20.1", "1.2.3.20.2", "1.2.3.20.3"}

	refs, err := ix.Refs(ctx, st, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range refs {
		got = append(got, r.SOPInstanceUID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Refs order = %v, want %v", got, want)
	}
	refs, err = ix.Refs(ctx, st, "1.2.3.20")
	if err != nil || len(refs) != 3 || refs[0].SOPInstanceUID != "1.2.3.20.1" {
		t.Errorf("Refs(series) = %v, %v", refs, err)
	}

	in := seriesSpec(0, st, "1.2.3.20", "2", "MR", 2)
	ref, err := ix.Lookup(ctx, in.SOPInstanceUID)
	if err != nil {
		t.Fatal(err)
	}
	if ref.ObjectKey != in.ObjectKey || ref.SHA256 != in.SHA256 || ref.Size != in.Size ||
		string(ref.Layout) != string(in.Layout) || ref.SeriesUID != "1.2.3.20" || ref.TransferSyntaxUID != in.TransferSyntaxUID {
		t.Errorf("Lookup = %+v", ref)
	}

	for _, c := range []struct {
		name               string
		study, series, sop string
		wantErr            error
	}{
		{"full path", st, "1.2.3.20", in.SOPInstanceUID, nil},
		{"any series", st, "", in.SOPInstanceUID, nil},
		{"wrong series", st, "1.2.3.10", in.SOPInstanceUID, index.ErrNotFound},
		{"wrong study", "9.9", "", in.SOPInstanceUID, index.ErrNotFound},
		{"unknown", st, "", "7.7.7", index.ErrNotFound},
	} {
		t.Run("Instance/"+c.name, func(t *testing.T) {
			_, err := ix.Instance(ctx, c.study, c.series, c.sop)
			if !errors.Is(err, c.wantErr) {
				t.Errorf("err = %v, want %v", err, c.wantErr)
			}
		})
	}
	for _, c := range []struct{ study, series string }{{"9.9", ""}, {st, "9.9"}, {"", ""}} {
		if _, err := ix.Refs(ctx, c.study, c.series); !errors.Is(err, index.ErrNotFound) {
			t.Errorf("Refs(%q,%q) err = %v, want ErrNotFound", c.study, c.series, err)
		}
		if err := ix.Metadata(ctx, c.study, c.series, "", func([]byte) error { return nil }); !errors.Is(err, index.ErrNotFound) {
			t.Errorf("Metadata(%q,%q) err = %v, want ErrNotFound", c.study, c.series, err)
		}
	}

	// Metadata: same order as Refs, valid JSON, the stored bytes.
	got = nil
	err = ix.Metadata(ctx, st, "", "", func(b []byte) error {
		var m map[string]struct {
			VR    string
			Value []json.RawMessage
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		var sop string
		if err := json.Unmarshal(m["00080018"].Value[0], &sop); err != nil {
			return err
		}
		got = append(got, sop)
		return nil
	})
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Metadata order = %v, %v; want %v", got, err, want)
	}
	var one []byte
	if err := ix.Metadata(ctx, st, "", in.SOPInstanceUID, func(b []byte) error { one = slices.Clone(b); return nil }); err != nil {
		t.Fatal(err)
	}
	if string(one) != string(in.Metadata) {
		t.Errorf("Metadata(instance) = %s, want %s", one, in.Metadata)
	}
	stop := errors.New("stop")
	if err := ix.Metadata(ctx, st, "", "", func([]byte) error { return stop }); err != stop {
		t.Errorf("Metadata callback error = %v, want it returned as is", err)
	}

	ok, err := ix.HasObject(ctx, in.ObjectKey)
	if err != nil || !ok {
		t.Errorf("HasObject = %v, %v", ok, err)
	}
	if ok, _ := ix.HasObject(ctx, "obj/none"); ok {
		t.Error("HasObject(unknown) = true")
	}
}

func TestForEachObjectBatches(t *testing.T) {
	ix, _ := openTest(t, index.Options{})
	ctx := context.Background()
	const n = 1203 // more than one batch
	want := make([]string, 0, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		in := indextest.Instance(i)
		want = append(want, in.ObjectKey)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ix.Put(ctx, in); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var got []string
	if err := ix.ForEachObject(ctx, func(k string) error { got = append(got, k); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("ForEachObject: got %d keys, want %d (equal=%v)", len(got), len(want), slices.Equal(got, want))
	}
	if studies, series, insts, err := ix.Stats(ctx); err != nil || studies != n || series != n || insts != n {
		t.Errorf("Stats = %d %d %d %v, want %d each", studies, series, insts, err, n)
	}
	commits, puts := ix.Commits()
	if puts != n || commits >= n/2 {
		t.Errorf("Commits = %d for %d puts: group commit not effective", commits, puts)
	}
}

func TestGroupCommit(t *testing.T) {
	ix, _ := openTest(t, index.Options{})
	ctx := context.Background()
	const n = 64
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = ix.Put(ctx, indextest.Instance(i))
		}()
	}
	c0, _ := ix.Commits()
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c1, puts := ix.Commits()
	t.Logf("%d puts in %d commits", puts, c1-c0)
	if c1-c0 > n/4 {
		t.Errorf("%d Puts took %d commits, want far fewer", n, c1-c0)
	}
	if _, _, insts, _ := ix.Stats(ctx); insts != n {
		t.Errorf("instances = %d, want %d", insts, n)
	}
}

// TestPutMany: the instances of one PutMany share one transaction, and
// each gets its own result: an invalid member and a conflicting member
// fail alone.
func TestPutMany(t *testing.T) {
	ix, _ := openTest(t, index.Options{})
	ctx := context.Background()
	mustPut(t, ix, indextest.Instance(100))
	insts := make([]*index.Instance, 40)
	for i := range insts {
		insts[i] = indextest.Instance(i)
	}
	insts[7].StudyUID = ""                                                 // invalid
	insts[9] = indextest.Instance(100, indextest.Content("other content")) // conflict
	insts[11] = indextest.Instance(100)                                    // identical: existed
	c0, _ := ix.Commits()
	res, errs := ix.PutMany(ctx, insts)
	c1, _ := ix.Commits()
	if c1-c0 != 1 {
		t.Errorf("PutMany of %d took %d commits, want 1", len(insts), c1-c0)
	}
	for i, err := range errs {
		switch i {
		case 7:
			if !errors.Is(err, index.ErrInvalid) {
				t.Errorf("invalid member: %v, want ErrInvalid", err)
			}
		case 9:
			if !errors.Is(err, index.ErrConflict) {
				t.Errorf("conflicting member: %v, want ErrConflict", err)
			}
		case 11:
			if err != nil || !res[i].Existed {
				t.Errorf("identical member: %+v, %v; want Existed", res[i], err)
			}
		default:
			if err != nil {
				t.Errorf("member %d: %v", i, err)
			}
		}
	}
	if _, _, n, _ := ix.Stats(ctx); n != 1+len(insts)-3 {
		t.Errorf("instances = %d, want %d", n, 1+len(insts)-3)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, errs := ix.PutMany(canceled, []*index.Instance{indextest.Instance(200)}); !errors.Is(errs[0], context.Canceled) {
		t.Errorf("PutMany with a canceled context: %v", errs[0])
	}
}

// TestGroupFailureIsolation: a transaction failure caused by one member
// rolls back the group, which is retried member by member.
func TestGroupFailureIsolation(t *testing.T) {
	ix, _ := openTest(t, index.Options{})
	ctx := context.Background()
	bad := indextest.Instance(2)
	ix.SetFailHook(func(sop string) error {
		if sop == bad.SOPInstanceUID {
			return errors.New("injected failure")
		}
		return nil
	})
	insts := []*index.Instance{indextest.Instance(1), bad, indextest.Instance(3), indextest.Instance(1, indextest.Content("dup"))}
	_, errs := ix.CommitGroup(insts)
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("good members failed: %v", errs)
	}
	if errs[1] == nil {
		t.Error("bad member succeeded")
	}
	if !errors.Is(errs[3], index.ErrConflict) {
		t.Errorf("conflicting member in group: %v, want ErrConflict", errs[3])
	}
	if _, err := ix.Lookup(ctx, bad.SOPInstanceUID); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("failed member left a trace: %v", err)
	}
	if s, _, i, _ := ix.Stats(ctx); s != 2 || i != 2 {
		t.Errorf("Stats = %d studies %d instances, want 2, 2", s, i)
	}
	if n := ix.KeyCounts()["objects"]; n != 2 {
		t.Errorf("objects bucket has %d keys, want 2", n)
	}
}

func TestReopenAndClose(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	ix, err := index.Open(ctx, path, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := indextest.Instance(4)
	if _, err := ix.Put(ctx, in); err != nil {
		t.Fatal(err)
	}
	// A second Open of the same file times out on the lock.
	if _, err := index.Open(ctx, path, index.Options{Timeout: 50 * time.Millisecond}); err == nil {
		t.Error("second Open of a locked file succeeded")
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for name, call := range map[string]func() error{
		"Put":    func() error { _, err := ix.Put(ctx, in); return err },
		"Lookup": func() error { _, err := ix.Lookup(ctx, in.SOPInstanceUID); return err },
		"Search": func() error { return ix.Search(ctx, index.Query{}, func(*index.Result) error { return nil }) },
		"Delete": func() error { _, err := ix.Delete(ctx, in.StudyUID, "", ""); return err },
		"Ping":   func() error { return ix.Ping(ctx) },
	} {
		if err := call(); !errors.Is(err, index.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}

	ix, err = index.Open(ctx, path, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if err := ix.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	ref, err := ix.Lookup(ctx, in.SOPInstanceUID)
	if err != nil || ref.ObjectKey != in.ObjectKey {
		t.Fatalf("after reopen: %v %v", ref, err)
	}
	got := search(t, ix, index.Query{Level: index.LevelStudy, Filters: []index.Filter{
		{Tag: 0x00100010, VR: "PN", Kind: index.MatchWildcard, Values: []string{"*"}}}})
	if len(got) != 1 {
		t.Errorf("search after reopen: %d results", len(got))
	}
	if res := mustPut(t, ix, in); !res.Existed {
		t.Error("re-put after reopen not idempotent")
	}
}

func TestPutContextCanceled(t *testing.T) {
	ix, _ := openTest(t, index.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ix.Put(ctx, indextest.Instance(1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with canceled ctx: %v", err)
	}
	if s, _, _, _ := ix.Stats(context.Background()); s != 0 {
		t.Error("canceled Put was indexed")
	}
}

func TestCloseWaitsForPendingPuts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	ctx := context.Background()
	ix, err := index.Open(ctx, path, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ix.Put(ctx, indextest.Instance(i)); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if !errors.Is(err, index.ErrClosed) {
				t.Errorf("Put: %v", err)
			}
		}()
	}
	time.Sleep(2 * time.Millisecond)
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	ix, err = index.Open(ctx, path, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if _, _, n, _ := ix.Stats(ctx); n != ok {
		t.Errorf("%d Puts succeeded but %d instances indexed", ok, n)
	}
}

// attrValue returns the first value of a tag.
func attrValue(as []index.Attr, tag uint32) string {
	for _, a := range as {
		if a.Tag == tag && len(a.Values) > 0 {
			return a.Values[0]
		}
	}
	return ""
}

func search(t testing.TB, ix *index.Index, q index.Query) []*index.Result {
	t.Helper()
	var out []*index.Result
	if err := ix.Search(context.Background(), q, func(r *index.Result) error { out = append(out, r); return nil }); err != nil {
		t.Fatalf("Search: %v", err)
	}
	return out
}

// TestOnCommit checks that the commit hook sees every successful group
// commit (and only those), with a positive duration.
func TestOnCommit(t *testing.T) {
	ix, _ := openTest(t, index.Options{})
	ctx := context.Background()
	var mu sync.Mutex
	var calls int
	var total time.Duration
	ix.SetOnCommit(func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		total += d
	})
	const n = 40
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ix.Put(ctx, indextest.Instance(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// A failed transaction is not a commit.
	ix.SetFailHook(func(string) error { return errors.New("injected") })
	if _, err := ix.Put(ctx, indextest.Instance(n)); err == nil {
		t.Error("Put with a failing transaction succeeded")
	}
	ix.SetFailHook(nil)
	commits, _ := ix.Commits()
	mu.Lock()
	if uint64(calls) != commits || calls == 0 || total <= 0 {
		t.Errorf("OnCommit called %d times (total %v) for %d commits", calls, total, commits)
	}
	mu.Unlock()
	ix.SetOnCommit(nil)
	if _, err := ix.Put(ctx, indextest.Instance(n+1)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if uint64(calls) != commits {
		t.Errorf("OnCommit called after SetOnCommit(nil): %d calls, %d commits before", calls, commits)
	}
}
