package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestKeyOrder: ascending keys and ascending streams interleaved at
// random are seen as appends, random keys are not, and a repeated key
// says nothing.
func TestKeyOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	random := func(int) string { return fmt.Sprintf("%08d", rng.IntN(1e8)) }
	var streams [5]int
	cases := []struct {
		name string
		key  func(i int) string
		want bool
	}{
		{"ascending", func(i int) string { return fmt.Sprintf("%08d", i) }, true},
		{"five streams interleaved at random", func(int) string {
			s := rng.IntN(len(streams))
			streams[s]++
			return fmt.Sprintf("%d.%08d", s, streams[s])
		}, true},
		{"random", random, false},
		{"one key repeated, then random", func(i int) string {
			if i < 1000 {
				return "same"
			}
			return random(i)
		}, false},
	}
	db, err := bolt.Open(filepath.Join(t.TempDir(), "b.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for ci, c := range cases {
		var o keyOrder
		name := []byte(fmt.Sprint(ci))
		err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket(name)
			if err != nil {
				return err
			}
			for i := range 5000 {
				k := []byte(c.key(i))
				o.observe(b, name, k)
				if err := b.Put(k, nil); err != nil {
					return err
				}
				if i > 1500 && o.appending(name) != c.want {
					t.Errorf("%s: appending = %v after %d keys, want %v", c.name, !c.want, i+1, c.want)
					break
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestFillFollowsKeyOrder: with random UIDs the UID-keyed buckets stay
// well filled (a fixed 90% split left them about 37% full), and with
// ascending UIDs they are filled nearly full.
func TestFillFollowsKeyOrder(t *testing.T) {
	for _, c := range []struct {
		name    string
		uid     func(rng *rand.Rand, i int) string
		minFill float64
	}{
		{"random", func(rng *rand.Rand, _ int) string { return fmt.Sprintf("2.25.%d", rng.Uint64()) }, 0.55},
		{"ascending", func(_ *rand.Rand, i int) string { return fmt.Sprintf("1.2.3.%06d", i) }, 0.8},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			ix, err := Open(ctx, filepath.Join(t.TempDir(), "ix.db"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ix.Close()
			rng := rand.New(rand.NewPCG(1, 2))
			for i := 0; i < 3000; i += 100 {
				var batch []*Instance
				for j := range 100 {
					batch = append(batch, mdInstance(c.uid(rng, i+j), 1, 1, ""))
				}
				_, errs := ix.PutMany(ctx, batch)
				for _, err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			err = ix.db.View(func(tx *bolt.Tx) error {
				for _, name := range [][]byte{bSeriesUID, bStudies, bHier} {
					st := tx.Bucket(name).Stats()
					if st.LeafAlloc == 0 {
						t.Fatalf("bucket %s is empty", name)
					}
					if fill := float64(st.LeafInuse) / float64(st.LeafAlloc); fill < c.minFill {
						t.Errorf("bucket %s: leaf pages %.0f%% full, want at least %.0f%%", name, 100*fill, 100*c.minFill)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
