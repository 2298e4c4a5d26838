package report

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/index"
)

func TestReports(t *testing.T) {
	ctx := context.Background()
	ix, err := index.Open(ctx, filepath.Join(t.TempDir(), "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	s := New(ix)
	if err := s.Put(ctx, Report{ID: "F1", AccessionNumber: "ACC1", PatientID: "P1", Text: "No acute findings.", Status: Preliminary}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, Report{ID: "F1", AccessionNumber: "ACC1", PatientID: "P1", Text: "No acute findings. Signed."}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, Report{ID: "F2", StudyInstanceUID: "1.2.3", PatientID: "P2", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Get(ctx, "F1")
	if err != nil || r.Status != Final || r.Text != "No acute findings. Signed." {
		t.Fatalf("amended report: %+v %v", r, err)
	}
	for _, tc := range []struct {
		study, acc, pid string
		want            int
	}{{"", "ACC1", "", 1}, {"1.2.3", "", "", 1}, {"1.2.3", "ACC1", "", 2}, {"", "", "P2", 1}, {"9.9", "NOPE", "", 0}} {
		n := 0
		if err := s.Find(ctx, tc.study, tc.acc, tc.pid, func(*Report) error { n++; return nil }); err != nil || n != tc.want {
			t.Errorf("Find(%q, %q, %q): %d, %v; want %d", tc.study, tc.acc, tc.pid, n, err, tc.want)
		}
	}
	if _, err := s.Get(ctx, "NOPE"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown report: %v", err)
	}
	for _, bad := range []Report{{AccessionNumber: "A"}, {ID: "X"}} {
		if err := s.Put(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}
