package main_test

// Crash consistency: the real binary is killed with SIGKILL at random
// moments and at deterministic points of the ingest pipeline
// ($MINIPACS_CRASHPOINT) while several clients upload; after each restart
// every acknowledged instance must be retrievable bit-exact, the index must
// reference only existing objects, the store must hold no orphan (before
// and after `minipacs gc --grace 0`), bbolt's check must pass, and at the
// end re-sending everything must succeed. Violations are counted and
// printed as "trials=N violations=0".

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestReliabilityCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash suite skipped in -short mode")
	}
	n, trials := 1000, 20
	if longRun {
		n, trials = 3000, 60
	}
	corpus := genCorpus(t, "-mode", "tiny", "-n", fmt.Sprint(n), "-seed", "61")
	t.Run("disk", func(t *testing.T) { crashSuite(t, diskStore, corpus, trials) })
	t.Run("s3", func(t *testing.T) { crashSuite(t, s3Store(t), corpus, trials) })
}

// crashSuite runs the random-kill trials then the deterministic crash
// points on one store, all on one data directory, so that the damage of
// every trial is carried into the next.
func crashSuite(t *testing.T, st storeKind, corpus []*synthInstance, trials int) {
	start := time.Now()
	dataDir := t.TempDir()
	args := st.args(t)
	acks := newAckSet()
	var violations []string
	ranAdmin := map[string]bool{}
	check := func(label string, admin bool) {
		v := checkAfterCrash(t, dataDir, args, st.env, acks, ranAdmin, admin)
		for _, x := range v {
			violations = append(violations, label+": "+x)
		}
	}

	// Random kills. Each trial sends a slice of the corpus (overlapping the
	// previous one, so that re-sends of acknowledged and of half-done
	// instances happen) from 4 clients with 1-5 instances per request.
	// The last crashSlice*4 instances are kept for the crash points: an
	// instance stored already is answered "existed" before the object
	// write, so a crash point needs instances never sent.
	const crashSlice = 60
	random, fresh := corpus[:len(corpus)-4*crashSlice], corpus[len(corpus)-4*crashSlice:]
	per := len(random)/trials + 10
	for trial := range trials {
		lo := max(0, trial*len(random)/trials-10)
		hi := min(len(random), lo+per)
		s := startServerDir(t, dataDir, args, st.env)
		killAfter := time.Duration(50+rand.IntN(500)) * time.Millisecond
		sent := uploadUntilDead(t, s, random[lo:hi], acks, 4, func() {
			time.Sleep(killAfter)
			s.stop(syscall.SIGKILL)
		})
		t.Logf("trial %d: killed after %v, %d requests sent, %d acknowledged so far", trial, killAfter, sent, len(acks.list()))
		// gc and verify are separate processes: every 4th trial.
		check(fmt.Sprintf("trial %d", trial), trial%4 == 3)
	}

	// Deterministic crash points, each hit at its 3rd occurrence.
	points := []string{"after-spool", "after-object-write", "after-index-commit", "before-response"}
	for i, p := range points {
		env := append(append([]string{}, st.env...), "MINIPACS_CRASHPOINT="+p+"@3")
		s := startServerDir(t, dataDir, args, env)
		slice := fresh[i*crashSlice : (i+1)*crashSlice]
		uploadUntilDead(t, s, slice, acks, 2, func() {
			select {
			case <-s.exited:
			case <-time.After(30 * time.Second):
				s.t.Errorf("crash point %s: server still alive after 30s", p)
				s.stop(syscall.SIGKILL)
			}
		})
		if !s.killedBySignal() {
			violations = append(violations, fmt.Sprintf("crash point %s: the server did not die by SIGKILL (%v)", p, s.waitErr))
		}
		check("crash point "+p, true)
	}

	// Finally: re-sending everything succeeds, and everything is there.
	s := startServerDir(t, dataDir, args, st.env)
	client := &http.Client{Timeout: 60 * time.Second}
	final := newAckSet()
	for i := 0; i < len(corpus); i += 25 {
		batch := corpus[i:min(len(corpus), i+25)]
		status, body, err := postBatch(context.Background(), client, s.base, batch)
		if err != nil || status != http.StatusOK {
			violations = append(violations, fmt.Sprintf("re-send of batch %d: status %d err %v: %.300s", i/25, status, err, body))
			continue
		}
		if err := final.record(status, body, batch); err != nil {
			violations = append(violations, "re-send: "+err.Error())
		}
	}
	if got := len(final.list()); got != len(corpus) {
		violations = append(violations, fmt.Sprintf("re-send: %d of %d instances acknowledged", got, len(corpus)))
	}
	violations = append(violations, retrieveViolations(t, s, corpus)...)
	s.stop(syscall.SIGTERM)
	check("final", true)

	total := trials + len(points)
	fmt.Printf("crash %s: trials=%d violations=%d acknowledged=%d (%v)\n", st.name, total, len(violations), len(acks.list()), time.Since(start).Round(time.Millisecond))
	t.Logf("trials=%d violations=%d; admin commands run: %v", total, len(violations), keys(ranAdmin))
	for i, v := range violations {
		if i == 30 {
			t.Errorf("... %d more", len(violations)-30)
			break
		}
		t.Error(v)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// uploadUntilDead runs clients that send slice (in random batches of 1-5,
// in a random order, each client its own order) until the server is gone
// or everything was sent twice, while killer runs; it records the
// acknowledgements and returns the number of requests sent.
func uploadUntilDead(t *testing.T, s *server, slice []*synthInstance, acks *ackSet, clients int, killer func()) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sent atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			order := rand.Perm(len(slice))
			for round := 0; round < 2; round++ {
				for i := 0; i < len(order); {
					k := min(len(order)-i, 1+rand.IntN(5))
					batch := make([]*synthInstance, k)
					for j := range k {
						batch[j] = slice[order[i+j]]
					}
					i += k
					status, body, err := postBatch(ctx, client, s.base, batch)
					sent.Add(1)
					if err != nil {
						return // the server is gone
					}
					if status != http.StatusOK && status != http.StatusAccepted {
						t.Errorf("client %d: STOW status %d: %.300s", c, status, body)
						continue
					}
					if err := acks.record(status, body, batch); err != nil {
						t.Errorf("client %d: %v", c, err)
					}
				}
			}
		}()
	}
	killer()
	wg.Wait()
	return int(sent.Load())
}

// checkAfterCrash checks a killed server's data: bbolt check (before any
// restart), then a restart (recovery) and retrieval of every acknowledged
// instance bit-exact, then with the server stopped: index references vs.
// objects, orphans, gc and verify when available.
func checkAfterCrash(t *testing.T, dataDir string, args, env []string, acks *ackSet, ran map[string]bool, admin bool) []string {
	t.Helper()
	var v []string
	if err := boltCheck(dataDir + "/index.db"); err != nil {
		v = append(v, "bbolt check right after the kill: "+err.Error())
	}
	s := startServerDir(t, dataDir, args, env)
	v = append(v, retrieveViolations(t, s, acks.list())...)
	if left := spoolFiles(dataDir); len(left) > 0 {
		v = append(v, fmt.Sprintf("spool not empty after recovery: %v", left))
	}
	if code, _ := s.stop(syscall.SIGTERM); code != 0 {
		v = append(v, fmt.Sprintf("clean stop: exit code %d", code))
	}
	sv, orphans := storeViolations(t, dataDir, args)
	v = append(v, sv...)
	// Recovery removes the objects of interrupted uploads itself: an
	// orphan here is a violation, whatever gc would do with it.
	for _, o := range orphans {
		v = append(v, "orphan object after recovery: "+o)
	}
	if !admin {
		return v
	}
	r, av := adminChecks(t, dataDir, args, env)
	for _, x := range r {
		ran[x] = true
	}
	v = append(v, av...)
	if len(r) > 0 && len(orphans) > 0 {
		if sv, orphans := storeViolations(t, dataDir, args); len(sv)+len(orphans) > 0 {
			v = append(v, fmt.Sprintf("after gc: %v, orphans %v", sv, orphans))
		}
	}
	return v
}
