package scrub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/storage"
)

func TestVerify(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, b, 20)
			var total int64
			for _, o := range e.objs {
				total += int64(len(o.data))
			}

			rep, err := Verify(ctx, e.idx, e.store, Options{Orphans: true})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() || rep.Instances != 20 || rep.Checked != 20 || rep.Bytes != total || rep.StoreObjects != 20 || len(rep.Problems) != 0 {
				t.Fatalf("clean store: %+v", rep)
			}

			// Corrupt one byte of one object, truncate another, delete a
			// third, add an orphan.
			flip := bytes.Clone(e.objs[3].data)
			flip[len(flip)/2] ^= 0x01
			short := e.objs[4].data[:len(e.objs[4].data)-1]
			for key, data := range map[string][]byte{e.objs[3].key: flip, e.objs[4].key: short} {
				if err := e.store.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.store.Delete(ctx, e.objs[5].key); err != nil {
				t.Fatal(err)
			}
			orphan := e.putOrphan(t, "not referenced")

			var streamed []Problem
			rep, err = Verify(ctx, e.idx, e.store, Options{Orphans: true, Concurrency: 3, OnProblem: func(p Problem) { streamed = append(streamed, p) }})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{
				"mismatch " + e.objs[3].key: true,
				"mismatch " + e.objs[4].key: true,
				"missing " + e.objs[5].key:  true,
				"orphan " + orphan:          true,
			}
			if got := problems(rep); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("problems = %v, want %v", got, want)
			}
			if rep.OK() || rep.Mismatch != 2 || rep.Missing != 1 || rep.Orphans != 1 || rep.Unreadable != 0 || rep.Checked != 19 || len(streamed) != 4 {
				t.Errorf("counts: %+v, %d streamed", rep, len(streamed))
			}
			for _, p := range rep.Problems {
				switch p.Key {
				case e.objs[3].key:
					if p.SOPInstanceUID != e.objs[3].sop || p.GotSize != p.WantSize || p.GotSHA256 == p.WantSHA256 || p.GotSHA256 == "" {
						t.Errorf("flipped byte: %+v", p)
					}
				case e.objs[4].key:
					if p.GotSize != p.WantSize-1 {
						t.Errorf("truncated: %+v", p)
					}
				}
				if s := p.String(); !strings.Contains(s, p.Key) || !strings.HasPrefix(s, string(p.Kind)) {
					t.Errorf("String() = %q", s)
				}
			}
		})
	}
}

func TestVerifySample(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, backends[0], 100)
	tests := []struct {
		name     string
		opt      Options
		min, max int64
	}{
		{"n", Options{SampleN: 7}, 7, 7},
		{"n above count", Options{SampleN: 500}, 100, 100},
		{"fraction", Options{SampleFraction: 0.25}, 8, 50},
		{"fraction 1", Options{SampleFraction: 1}, 100, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Verify(ctx, e.idx, e.store, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Instances != 100 || rep.Checked < tt.min || rep.Checked > tt.max || !rep.OK() {
				t.Errorf("walked %d, checked %d, want %d..%d", rep.Instances, rep.Checked, tt.min, tt.max)
			}
		})
	}
	// The reservoir is uniform: a sample of 1 out of 100, repeated, does
	// not always pick the same instance.
	seen := map[string]bool{}
	for range 20 {
		rep, err := Verify(ctx, e.idx, e.store, Options{SampleN: 1, Orphans: false, OnProblem: nil})
		if err != nil || rep.Checked != 1 {
			t.Fatal(err, rep)
		}
		seen[fmt.Sprint(rep.Bytes)] = true
	}
	if len(seen) < 5 {
		t.Errorf("20 samples of 1 hit only %d distinct objects", len(seen))
	}
}

func TestVerifyThrottle(t *testing.T) {
	e := newEnv(t, backends[0], 10)
	var total int64
	for _, o := range e.objs {
		total += int64(len(o.data))
	}
	const rate = 1 << 20
	start := time.Now()
	rep, err := Verify(context.Background(), e.idx, e.store, Options{BytesPerSecond: rate, Concurrency: 4})
	if err != nil || !rep.OK() {
		t.Fatal(err, rep)
	}
	want := time.Duration(float64(total) / rate * float64(time.Second))
	if el := time.Since(start); el < want*8/10 {
		t.Errorf("%d bytes at %d B/s took %v, want at least %v", total, rate, el, want)
	}

	// Cancelling stops a throttled pass.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Verify(ctx, e.idx, e.store, Options{BytesPerSecond: 1024}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled verify: %v", err)
	}
}

// faultyStore fails Get for one key with a transient error.
type faultyStore struct {
	storage.Store
	key string
}

func (f faultyStore) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if key == f.key {
		return nil, 0, fmt.Errorf("get %q: %w", key, storage.ErrUnavailable)
	}
	return f.Store.Get(ctx, key)
}

// staleIndex walks the real index plus an instance that was deleted
// after the walk read it.
type staleIndex struct {
	*index.Index
	ghost index.Ref
}

func (s staleIndex) ForEachInstance(ctx context.Context, fn func(index.Ref) error) error {
	if err := s.Index.ForEachInstance(ctx, fn); err != nil {
		return err
	}
	return fn(s.ghost)
}

func TestVerifyTransientAndRaces(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, backends[0], 5)
	var c Counters
	// An unreadable object is reported as such (not as missing), and an
	// instance deleted during the walk (no longer indexed, object gone) is
	// not reported at all.
	idx := staleIndex{e.idx, index.Ref{SOPInstanceUID: "1.2.3.999", ObjectKey: "dicom/00/00/gone.dcm", Size: 3}}
	rep, err := Verify(ctx, idx, faultyStore{e.store, e.objs[1].key}, Options{Counters: &c})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Unreadable != 1 || rep.Missing != 0 || rep.Checked != 4 || len(rep.Problems) != 1 || rep.Problems[0].Kind != Unreadable || rep.Problems[0].Key != e.objs[1].key {
		t.Errorf("report %+v", rep)
	}
	if c.Errors.Load() != 1 || c.ObjectsChecked.Load() != 4 || c.Missing.Load() != 0 {
		t.Errorf("counters: errors %d checked %d missing %d", c.Errors.Load(), c.ObjectsChecked.Load(), c.Missing.Load())
	}
}
