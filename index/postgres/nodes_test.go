package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/testkit/pgtest"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
	"github.com/minipacs/minipacs/index/postgres"
)

// nodes opens n engines on one fresh database, as n minipacs nodes do.
func nodes(t *testing.T, n int) (*pgtest.Server, string, []*postgres.Index) {
	t.Helper()
	srv := pgtest.Start(t, pgtest.Options{})
	url := srv.NewDatabase(t)
	var out []*postgres.Index
	for i := 0; i < n; i++ {
		ix, err := postgres.Open(context.Background(), url, index.Options{})
		if err != nil {
			t.Fatalf("open node %d: %v", i, err)
		}
		t.Cleanup(func() { ix.Close() })
		out = append(out, ix)
	}
	return srv, url, out
}

// TestConcurrentNodes puts overlapping batches of the same instances
// through three engines at once, in different orders (so that their
// transactions meet on the same study, series and patient rows in
// opposite orders): every put succeeds, each instance is indexed once and
// reported stored by exactly one of them, Existed by the others.
func TestConcurrentNodes(t *testing.T) {
	ctx := context.Background()
	srv, _, ix := nodes(t, 3)
	const n = 240
	insts := make([]*index.Instance, n)
	for i := range insts {
		// 12 studies of 2 series: many instances share rows.
		insts[i] = indextest.Instance(i, indextest.Study(fmt.Sprintf("1.2.3.%d", i%12)),
			indextest.Series(fmt.Sprintf("1.2.3.%d.%d", i%12, i/12%2), fmt.Sprint(i/12%2+1), "CT"),
			indextest.Patient(fmt.Sprintf("P%d", i%5), "", fmt.Sprintf("Name^%d", i%5)))
	}
	var stored, existed atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for node := 0; node < 3; node++ {
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func(node, w int) {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(node), uint64(w)))
				order := r.Perm(n)
				for len(order) > 0 {
					k := min(len(order), 1+r.IntN(20))
					batch := make([]*index.Instance, k)
					for j := range batch {
						batch[j] = insts[order[j]]
					}
					order = order[k:]
					res, es := ix[node].PutMany(ctx, batch)
					for j := range batch {
						if es[j] != nil {
							errs <- fmt.Errorf("node %d: put %s: %w", node, batch[j].SOPInstanceUID, es[j])
							return
						}
						if res[j].Existed {
							existed.Add(1)
						} else {
							stored.Add(1)
						}
					}
				}
			}(node, w)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if stored.Load() != n || existed.Load() != 5*n {
		t.Errorf("stored %d, existed %d; want %d and %d", stored.Load(), existed.Load(), n, 5*n)
	}
	for i, e := range ix {
		st, se, in, err := e.Stats(ctx)
		if err != nil || st != 12 || se != 24 || in != n {
			t.Errorf("node %d: stats %d %d %d %v; want 12 24 %d", i, st, se, in, err, n)
		}
	}
	if got := srv.Psql(t, "SELECT 1"); got != "1" {
		t.Fatal(got)
	}
	commits, puts := ix[0].Commits()
	t.Logf("node 0: %d commits, %d puts", commits, puts)
}

// TestObjectGuard checks the claims of object keys between nodes: a
// claimed key is not removed by another node, a removal in progress makes
// a claim wait, and a referenced key is never removed.
func TestObjectGuard(t *testing.T) {
	ctx := context.Background()
	_, _, ix := nodes(t, 2)
	a, b := ix[0], ix[1]
	del := func(removed *atomic.Int32) func(context.Context) error {
		return func(context.Context) error { removed.Add(1); return nil }
	}

	// A claim of node a spares the key from node b's removal.
	var removed atomic.Int32
	release, err := a.ClaimObject(ctx, "dicom/k1")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := b.DeleteUnreferenced(ctx, "dicom/k1", del(&removed)); ok || err != nil || removed.Load() != 0 {
		t.Fatalf("removal of a claimed key: ran %v, err %v", ok, err)
	}
	release()
	if ok, err := b.DeleteUnreferenced(ctx, "dicom/k1", del(&removed)); !ok || err != nil || removed.Load() != 1 {
		t.Fatalf("removal after release: ran %v, err %v", ok, err)
	}

	// A removal in progress makes a claim of the same key wait for it.
	inDel := make(chan struct{})
	finish := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := b.DeleteUnreferenced(ctx, "dicom/k2", func(context.Context) error {
			close(inDel)
			<-finish
			return nil
		})
		done <- err
	}()
	<-inDel
	claimed := make(chan time.Time, 1)
	go func() {
		rel, err := a.ClaimObject(ctx, "dicom/k2")
		if err == nil {
			rel()
		}
		claimed <- time.Now()
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case <-claimed:
		t.Fatal("a claim went through while the key was being removed")
	default:
	}
	finishedAt := time.Now()
	close(finish)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if at := <-claimed; at.Before(finishedAt) {
		t.Fatal("claim before the removal finished")
	}

	// A referenced key is never removed.
	in := indextest.Instance(1)
	if _, err := a.Put(ctx, in); err != nil {
		t.Fatal(err)
	}
	removed.Store(0)
	if ok, err := b.DeleteUnreferenced(ctx, in.ObjectKey, del(&removed)); ok || err != nil || removed.Load() != 0 {
		t.Fatalf("removal of a referenced key: ran %v, err %v", ok, err)
	}
}

// TestUnavailable: calls on a database that is down fail with
// kind Unavailable (HTTP 503), and the engine recovers by itself when the
// server is back.
func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	srv, _, ix := nodes(t, 1)
	e := ix[0]
	if _, err := e.Put(ctx, indextest.Instance(1)); err != nil {
		t.Fatal(err)
	}
	srv.StopImmediate(t)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := e.Put(cctx, indextest.Instance(2)); !errorsIsUnavailable(err) {
		t.Fatalf("put with the server down: %v, want ErrUnavailable", err)
	}
	if _, err := e.Lookup(cctx, indextest.Instance(1).SOPInstanceUID); !errorsIsUnavailable(err) {
		t.Fatalf("lookup with the server down: %v, want ErrUnavailable", err)
	}
	srv.Restart(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := e.Put(ctx, indextest.Instance(2))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := e.Lookup(ctx, indextest.Instance(1).SOPInstanceUID); err != nil {
		t.Fatalf("committed before the crash: %v", err)
	}
}

// TestTurns: one node at a time holds a job's turn; a completion within
// the period refuses the turn to every node; a node that dies loses it.
func TestTurns(t *testing.T) {
	ctx := context.Background()
	srv, url, ix := nodes(t, 2)
	a, b := ix[0], ix[1]
	doneA, ok, err := a.TakeTurn(ctx, "scrub", time.Hour)
	if err != nil || !ok {
		t.Fatalf("first turn: %v %v", ok, err)
	}
	if _, ok, err := b.TakeTurn(ctx, "scrub", time.Hour); ok || err != nil {
		t.Fatalf("second node took a held turn: %v %v", ok, err)
	}
	if done, ok, err := b.TakeTurn(ctx, "other job", time.Hour); !ok || err != nil {
		t.Fatalf("another job's turn: %v %v", ok, err)
	} else {
		done(false)
	}
	doneA(true)
	if _, ok, err := b.TakeTurn(ctx, "scrub", time.Hour); ok || err != nil {
		t.Fatalf("turn taken though completed within the period: %v %v", ok, err)
	}
	time.Sleep(20 * time.Millisecond)
	doneB, ok, err := b.TakeTurn(ctx, "scrub", 10*time.Millisecond)
	if !ok || err != nil {
		t.Fatalf("turn after the period: %v %v", ok, err)
	}
	doneB(false)

	// A node dies holding the turn: its session ends, the turn is free.
	c, err := postgres.Open(ctx, url, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	doneC, ok, err := c.TakeTurn(ctx, "scrub", time.Millisecond)
	if !ok || err != nil {
		t.Fatalf("turn of the node about to die: %v %v", ok, err)
	}
	defer doneC(false)
	srv.Psql(t, "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted")
	deadline := time.Now().Add(10 * time.Second)
	for {
		done, ok, err := a.TakeTurn(ctx, "scrub", time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			done(false)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dead node's turn was never freed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
