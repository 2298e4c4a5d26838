package scrub

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestGC(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, b, 8)
			plain := e.putOrphan(t, "orphan one")
			plain2 := e.putOrphan(t, "orphan two")
			inFlight := e.putOrphan(t, "upload in flight")
			// A pending upload of inFlight (young) and a stale one.
			sum := strings.TrimSuffix(filepath.Base(inFlight), ".dcm")
			spoolFile := func(name string, age time.Duration) string {
				p := filepath.Join(e.spool, name)
				if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
				mt := time.Now().Add(-age)
				if err := os.Chtimes(p, mt, mt); err != nil {
					t.Fatal(err)
				}
				return p
			}
			pending := spoolFile(sum+".3.pending", time.Minute)
			stalePart := spoolFile("123-9.part", 48*time.Hour)
			stalePending := spoolFile(strings.Repeat("ab", 32)+".1.pending", 48*time.Hour)
			youngPart := spoolFile("123-10.part", time.Minute)

			// The objects were just written: with a grace period of a
			// day nothing is old enough.
			rep, err := GC(ctx, e.idx, e.store, GCOptions{Grace: 24 * time.Hour, SpoolDir: e.spool})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Objects != 11 || rep.Orphans != 3 || rep.Removed != 0 || rep.KeptYoung != 2 || rep.KeptPending != 1 || rep.SpoolRemoved != 2 {
				t.Errorf("fresh orphans: %+v", rep)
			}
			for p, want := range map[string]bool{pending: true, youngPart: true, stalePart: false, stalePending: false} {
				if _, err := os.Stat(p); (err == nil) != want {
					t.Errorf("spool file %s exists = %v, want %v", filepath.Base(p), err == nil, want)
				}
			}

			// A day later (the clock moved, not the objects), with the
			// upload still running (its pending file touched an hour ago):
			// dry run, then the real thing.
			later := func() time.Time { return time.Now().Add(25 * time.Hour) }
			touched := time.Now().Add(24 * time.Hour)
			if err := os.Chtimes(pending, touched, touched); err != nil {
				t.Fatal(err)
			}
			want := []string{plain, plain2}
			sort.Strings(want)
			for _, dry := range []bool{true, false} {
				var removed []string
				rep, err = GC(ctx, e.idx, e.store, GCOptions{Grace: 24 * time.Hour, SpoolDir: e.spool, Now: later, DryRun: dry,
					OnRemove: func(key string, _ int64) { removed = append(removed, key) }})
				if err != nil {
					t.Fatal(err)
				}
				sort.Strings(removed)
				if strings.Join(removed, " ") != strings.Join(want, " ") || rep.Removed != 2 || rep.KeptPending != 1 || rep.KeptYoung != 0 ||
					rep.DryRun != dry || rep.SpoolRemoved != 1 || rep.RemovedBytes != int64(len("orphan one")+len("orphan two")) {
					t.Errorf("dry run %v: %+v removed %v", dry, rep, removed)
				}
				if e.exists(t, plain) != dry || e.exists(t, plain2) != dry || !e.exists(t, inFlight) {
					t.Errorf("dry run %v: wrong objects removed", dry)
				}
				if _, err := os.Stat(youngPart); (err == nil) != dry {
					t.Errorf("dry run %v: spool file exists = %v", dry, err == nil)
				}
			}
			// Every referenced object is intact.
			vr, err := Verify(ctx, e.idx, e.store, Options{Orphans: true})
			if err != nil {
				t.Fatal(err)
			}
			if vr.Missing != 0 || vr.Mismatch != 0 || vr.Checked != 8 || vr.Orphans != 1 || vr.Problems[0].Key != inFlight {
				t.Errorf("after gc: %+v", vr)
			}
			// Once the upload is gone, its object is collected.
			os.Remove(pending)
			if rep, err = GC(ctx, e.idx, e.store, GCOptions{SpoolDir: e.spool}); err != nil || rep.Removed != 1 || e.exists(t, inFlight) {
				t.Errorf("gc after the upload ended: %+v %v", rep, err)
			}
			if vr, err = Verify(ctx, e.idx, e.store, Options{Orphans: true}); err != nil || !vr.OK() || vr.Checked != 8 {
				t.Errorf("final verify: %+v %v", vr, err)
			}
		})
	}
}

func TestPendingKey(t *testing.T) {
	x := strings.Repeat("0f", 32)
	tests := []struct {
		name, key string
		ok        bool
	}{
		{x + ".12.pending", "dicom/0f/0f/" + x + ".dcm", true},
		{x + ".pending", "dicom/0f/0f/" + x + ".dcm", true},
		{"123-4.part", "", false},
		{"abc.1.pending", "", false},
		{strings.Repeat("0G", 32) + ".1.pending", "", false},
		{x + ".1.pending.tmp", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, ok := PendingKey(tt.name)
			if key != tt.key || ok != tt.ok {
				t.Errorf("PendingKey = %q, %v; want %q, %v", key, ok, tt.key, tt.ok)
			}
		})
	}
}
