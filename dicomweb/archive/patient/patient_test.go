package patient

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
)

func newIndex(t *testing.T) *index.Index {
	t.Helper()
	ix, err := index.Open(context.Background(), filepath.Join(t.TempDir(), "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	for i, p := range []struct{ study, id, issuer, name string }{
		{"1.2.1", "P1", "H", "Doe^Jane"},
		{"1.2.2", "P1", "H", "Doe^Jane"},
		{"1.2.3", "P2", "H", "Roe^Jane"},
		{"1.2.4", "P1", "OTHER", "Doe^Jane"},
	} {
		s := indextest.DefaultSpec(i)
		s.StudyUID, s.SeriesUID, s.SOPInstanceUID = p.study, p.study+".1", p.study+".1.1"
		s.PatientID, s.IssuerOfPatientID, s.PatientName = p.id, p.issuer, p.name
		if _, err := ix.Put(context.Background(), indextest.Build(s)); err != nil {
			t.Fatal(err)
		}
	}
	return ix
}

// studies lists the studies whose patient matches filters.
func studies(t *testing.T, ix *index.Index, fs ...index.Filter) []string {
	t.Helper()
	var out []string
	err := ix.Search(context.Background(), index.Query{Level: index.LevelStudy, Filters: fs}, func(r *index.Result) error {
		for _, a := range r.Attrs(index.LevelStudy) {
			if a.Tag == 0x0020000D {
				out = append(out, a.Values[0])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func pid(v string) index.Filter {
	return index.Filter{Tag: 0x00100020, VR: "LO", Kind: index.MatchSingle, Values: []string{v}}
}

func name(v string) index.Filter {
	return index.Filter{Tag: 0x00100010, VR: "PN", Kind: index.MatchSingle, Values: []string{v}}
}

// TestUpdateAndMerge: an update renames the patient in searches (its
// studies only, not another issuer's), is idempotent and keeps history;
// a merge moves the studies and refuses the merged identifier afterwards;
// Resolve follows the merge.
func TestUpdateAndMerge(t *testing.T) {
	ix := newIndex(t)
	s := New(ix)
	ctx := context.Background()
	p1 := Key{ID: "P1", Issuer: "H"}
	for range 2 {
		if err := s.Update(ctx, p1, Demographics{Name: "Doe^Janet", BirthDate: "19700101", Sex: "F"}, "ADT^A08 M1"); err != nil {
			t.Fatal(err)
		}
	}
	if got := studies(t, ix, name("Doe^Janet")); !slices.Equal(got, []string{"1.2.1", "1.2.2"}) {
		t.Errorf("new name finds %v", got)
	}
	if got := studies(t, ix, name("Doe^Jane")); !slices.Equal(got, []string{"1.2.4"}) {
		t.Errorf("old name finds %v, want only the other issuer's study", got)
	}
	r, err := s.Get(ctx, p1)
	if err != nil || r.Name != "Doe^Janet" || len(r.History) != 0 {
		t.Fatalf("record after a first update (twice): %+v %v", r, err)
	}
	if err := s.Update(ctx, p1, Demographics{Name: "Smith^Janet"}, "ADT^A08 M2"); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Get(ctx, p1); len(r.History) != 1 || r.History[0].Was.Name != "Doe^Janet" || r.BirthDate != "19700101" {
		t.Errorf("history: %+v", r)
	}

	// A40: P1 merged into P2.
	p2 := Key{ID: "P2", Issuer: "H"}
	for range 2 {
		if err := s.Merge(ctx, p2, Demographics{Name: "Roe^Jane^Q"}, p1, "ADT^A40 M3"); err != nil {
			t.Fatal(err)
		}
	}
	if got := studies(t, ix, pid("P2")); !slices.Equal(got, []string{"1.2.1", "1.2.2", "1.2.3"}) {
		t.Errorf("after the merge P2 has %v", got)
	}
	if got := studies(t, ix, name("Roe^Jane^Q")); len(got) != 3 {
		t.Errorf("survivor's name on %v", got)
	}
	if got := studies(t, ix, pid("P1")); !slices.Equal(got, []string{"1.2.4"}) {
		t.Errorf("after the merge P1 has %v", got)
	}
	if err := s.Update(ctx, p1, Demographics{Name: "X^Y"}, "ADT^A08 M4"); !errors.Is(err, ErrMerged) {
		t.Errorf("update of a merged patient: %v", err)
	}
	if k, err := s.Resolve(ctx, p1); err != nil || k != p2 {
		t.Errorf("Resolve(P1) = %v, %v", k, err)
	}
	if k, _ := s.Resolve(ctx, Key{ID: "P1", Issuer: "OTHER"}); k.ID != "P1" {
		t.Errorf("Resolve of another issuer's P1 = %v", k)
	}
	// A47: P2 becomes P9 (a new identifier).
	p9 := Key{ID: "P9", Issuer: "H"}
	if err := s.Merge(ctx, p9, Demographics{}, p2, "ADT^A47 M5"); err != nil {
		t.Fatal(err)
	}
	if got := studies(t, ix, pid("P9")); len(got) != 3 {
		t.Errorf("after the change of identifier P9 has %v", got)
	}
	if k, _ := s.Resolve(ctx, p1); k != p9 {
		t.Errorf("Resolve(P1) after A47 = %v", k)
	}
	for _, bad := range []struct {
		k Key
		d Demographics
	}{{Key{}, Demographics{}}, {p9, Demographics{BirthDate: "1970-01-01"}}, {p9, Demographics{Sex: "X"}}} {
		if err := s.Update(ctx, bad.k, bad.d, "x"); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}
