package scrub

import (
	"context"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/testkit/pgtest"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
	"github.com/minipacs/minipacs/index/postgres"
)

// TestGCSharedIndex runs gc on a PostgreSQL index that nodes share: an
// orphan that another node claims (it is writing the same object, to
// index it) is kept; once the claim ends it goes; referenced objects stay.
func TestGCSharedIndex(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, backends[0], 4)
	srv := pgtest.Start(t, pgtest.Options{})
	pg, err := postgres.Open(ctx, srv.NewDatabase(t), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	// The same instances in the shared index.
	err = e.idx.ForEachInstance(ctx, func(ref index.Ref) error {
		_, err := pg.Put(ctx, indexInstance(t, e, ref))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	claimed := e.putOrphan(t, "another node is writing this one")
	free := e.putOrphan(t, "nobody wants this one")
	release, err := pg.ClaimObject(ctx, claimed)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := GC(ctx, pg, e.store, GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Removed != 1 || e.exists(t, free) || !e.exists(t, claimed) {
		t.Fatalf("with a claim: %+v; free exists %v, claimed exists %v", rep, e.exists(t, free), e.exists(t, claimed))
	}
	release()
	if rep, err = GC(ctx, pg, e.store, GCOptions{}); err != nil || rep.Removed != 1 || e.exists(t, claimed) {
		t.Fatalf("after the release: %+v %v", rep, err)
	}
	for _, o := range e.objs {
		if !e.exists(t, o.key) {
			t.Errorf("referenced object %s removed", o.key)
		}
	}
}

// indexInstance rebuilds the indexed instance of ref (the env's synthetic
// attributes) for another index.
func indexInstance(t *testing.T, e *env, ref index.Ref) *index.Instance {
	t.Helper()
	for i, o := range e.objs {
		if o.sop == ref.SOPInstanceUID {
			in := indextest.Instance(i)
			in.SHA256, in.Size, in.ObjectKey = ref.SHA256, ref.Size, ref.ObjectKey
			return in
		}
	}
	t.Fatalf("no object for %s", ref.SOPInstanceUID)
	return nil
}

// TestScrubTurns: scrubbers of several nodes on one PostgreSQL index make
// one pass an interval between them, not one each.
func TestScrubTurns(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, backends[0], 4)
	srv := pgtest.Start(t, pgtest.Options{})
	url := srv.NewDatabase(t)
	var scrubbers []*Scrubber
	for range 3 {
		pg, err := postgres.Open(ctx, url, index.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pg.Close() })
		scrubbers = append(scrubbers, NewScrubber(pg, e.store, ScrubConfig{Interval: time.Hour}))
	}
	for _, s := range scrubbers {
		s.turn(ctx)
	}
	passes := 0
	for _, s := range scrubbers {
		passes += int(s.Counters().Passes.Load())
	}
	if passes != 1 {
		t.Fatalf("%d passes by three nodes within one interval, want 1", passes)
	}
}
