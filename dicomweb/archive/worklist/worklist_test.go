package worklist

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/minipacs/minipacs/index"
)

func newService(t *testing.T) *Service {
	t.Helper()
	ix, err := index.Open(context.Background(), filepath.Join(t.TempDir(), "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return New(ix)
}

var orders = []Order{
	{PlacerOrder: "P1", StepID: "S1", AccessionNumber: "ACC1", PatientID: "PID1", PatientName: "Müller^Jürgen", Modality: "CT", StationAETitle: "CT1", StartDate: "20261207", StartTime: "0830", RequestedProcedureID: "RP1"},
	{PlacerOrder: "P2", StepID: "S1", AccessionNumber: "ACC2", PatientID: "PID2", PatientName: "Doe^Jane", Modality: "MR", StationAETitle: "MR1", StartDate: "20261208", StartTime: "1400"},
	{PlacerOrder: "P3", StepID: "S1", AccessionNumber: "ACC3", PatientID: "PID1", PatientName: "Müller^Jürgen", Modality: "CT", StationAETitle: "CT2", StartDate: "20261209", Status: Discontinued},
}

func TestFind(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	for _, o := range orders {
		if _, err := s.Put(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		f    Filter
		want []string
	}{
		{"all scheduled", Filter{}, []string{"P1", "P2"}},
		{"modality", Filter{Modality: "CT"}, []string{"P1"}},
		{"station wildcard", Filter{StationAETitle: "?R*"}, []string{"P2"}},
		{"name case-insensitive wildcard", Filter{PatientName: "müller*"}, []string{"P1"}},
		{"date range", Filter{StartDateLow: "20261208", StartDateHigh: "20261231"}, []string{"P2"}},
		{"open date range", Filter{StartDateHigh: "20261207"}, []string{"P1"}},
		{"time range", Filter{StartTimeLow: "0800", StartTimeHigh: "0900"}, []string{"P1"}},
		{"accession", Filter{AccessionNumber: "ACC2"}, []string{"P2"}},
		{"discontinued asked for", Filter{PatientID: "PID1", Statuses: []string{Discontinued}}, []string{"P3"}},
		{"no match", Filter{Modality: "US"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			if err := s.Find(ctx, tc.f, func(o *Order) error { got = append(got, o.PlacerOrder); return nil }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPut: the Study Instance UID given to a new order is kept by its
// updates; a status change touches every step; invalid orders are refused.
func TestPut(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	o, err := s.Put(ctx, orders[0])
	if err != nil {
		t.Fatal(err)
	}
	if o.StudyInstanceUID == "" || o.Status != Scheduled {
		t.Fatalf("new order: %+v", o)
	}
	upd := orders[0]
	upd.StartTime = "0900"
	o2, err := s.Put(ctx, upd)
	if err != nil || o2.StudyInstanceUID != o.StudyInstanceUID {
		t.Fatalf("update changed the study UID: %v %v", o2, err)
	}
	if err := s.SetStatus(ctx, "P1", "", Completed); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "P1", "S1")
	if err != nil || got.Status != Completed || got.StartTime != "0900" {
		t.Fatalf("after status: %+v %v", got, err)
	}
	if err := s.SetStatus(ctx, "NOPE", "", Completed); !errors.Is(err, ErrNotFound) {
		t.Errorf("status of an unknown order: %v", err)
	}
	for _, bad := range []Order{
		{StepID: "S", PatientID: "P"},
		{PlacerOrder: "P", PatientID: "P"},
		{PlacerOrder: "P", StepID: "S"},
		{PlacerOrder: "P", StepID: "S", PatientID: "X", StartDate: "2026-12-07"},
		{PlacerOrder: "P", StepID: "S", PatientID: "X", StudyInstanceUID: "1.2.abc"},
	} {
		if _, err := s.Put(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

func TestWildcard(t *testing.T) {
	for _, tc := range []struct {
		p, v string
		want bool
	}{
		{"*", "", true}, {"A*", "ABC", true}, {"A?C", "ABC", true}, {"A?C", "AC", false},
		{"*C", "ABC", true}, {"*B*", "ABC", true}, {"A*C*E", "ABCDE", true}, {"A*C*E", "ABCD", false},
		{"Mü*", "Müller", true}, {"ABC", "abc", false},
	} {
		if got := Wildcard(tc.p, tc.v); got != tc.want {
			t.Errorf("Wildcard(%q, %q) = %v", tc.p, tc.v, got)
		}
	}
}

func TestParseDateRange(t *testing.T) {
	for _, tc := range []struct {
		in, low, high string
		bad           bool
	}{
		{"", "", "", false}, {"20261207", "20261207", "20261207", false}, {"20261201-20261231", "20261201", "20261231", false},
		{"-20261231", "", "20261231", false}, {"20261201-", "20261201", "", false}, {"20261231-20261201", "", "", true}, {"2026-12-01", "", "", true},
	} {
		low, high, err := ParseDateRange(tc.in)
		if (err != nil) != tc.bad || low != tc.low || high != tc.high {
			t.Errorf("%q: %q %q %v", tc.in, low, high, err)
		}
	}
}

// TestArrived: a study stored with an order's accession number links to
// the order and completes it; another accession changes nothing.
func TestArrived(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	for _, o := range orders {
		if _, err := s.Put(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Arrived(ctx, "NOPE", "1.2.3"); err != nil || n != 0 {
		t.Fatalf("unknown accession: %d %v", n, err)
	}
	if n, err := s.Arrived(ctx, "ACC1", "1.2.3"); err != nil || n != 1 {
		t.Fatalf("Arrived: %d %v", n, err)
	}
	o, _ := s.Get(ctx, "P1", "S1")
	if o.Status != Completed || !slices.Equal(o.Studies, []string{"1.2.3"}) {
		t.Errorf("after arrival: %+v", o)
	}
	if n, _ := s.Arrived(ctx, "ACC1", "1.2.3"); n != 0 {
		t.Errorf("second arrival of the same study changed %d orders", n)
	}
}
