package index_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/minipacs/minipacs/index"
)

// TestEncodedResults: an Encoded search returns the same results as a
// plain one, read through Attrs, Reader.Next and Reader.Seek.
func TestEncodedResults(t *testing.T) {
	ix := fixture(t)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		q    index.Query
	}{
		{"studies", index.Query{}},
		{"name prefix", index.Query{Filters: []index.Filter{wild(tPatientName, "PN", "MÜ*")}}},
		{"date range", index.Query{Filters: []index.Filter{rng(tStudyDate, "DA", "20240101", "20240131")}}},
		{"series", index.Query{Level: index.LevelSeries}},
		{"instances offset", index.Query{Level: index.LevelInstance, Offset: 1, Limit: 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var plain, enc []*index.Result
			if err := ix.Search(ctx, c.q, func(r *index.Result) error { plain = append(plain, r); return nil }); err != nil {
				t.Fatal(err)
			}
			c.q.Encoded = true
			if err := ix.Search(ctx, c.q, func(r *index.Result) error { enc = append(enc, r); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(plain) == 0 || len(plain) != len(enc) {
				t.Fatalf("%d plain results, %d encoded", len(plain), len(enc))
			}
			for i := range plain {
				p, e := plain[i], enc[i]
				if p.Encoded() || !e.Encoded() || e.Study != nil || e.Series != nil || e.Instance != nil {
					t.Fatalf("result %d: Encoded %v/%v, encoded fields %v %v %v", i, p.Encoded(), e.Encoded(), e.Study, e.Series, e.Instance)
				}
				for l := index.LevelStudy; l <= index.LevelInstance; l++ {
					want, got := p.Attrs(l), e.Attrs(l)
					if len(want) != len(got) {
						t.Fatalf("result %d level %d: %d attributes, want %d", i, l, len(got), len(want))
					}
					for j := range want {
						w, g := want[j], got[j]
						if w.Tag != g.Tag || w.VR != g.VR || !bytes.Equal(w.JSON, g.JSON) ||
							!slices.Equal(w.Values, g.Values) && !(len(w.Values) == 0 && len(g.Values) == 0) {
							t.Errorf("result %d level %d: attribute %+v, want %+v", i, l, g, w)
						}
					}
					// Seek every other tag in order; a tag just read is
					// consumed.
					rd := e.Reader(l)
					for j := 0; j < len(want); j += 2 {
						a, ok := rd.Seek(want[j].Tag)
						if _, again := rd.Seek(want[j].Tag); again {
							t.Errorf("Seek(%08X) found it twice", want[j].Tag)
						}
						first := ""
						if len(want[j].Values) > 0 {
							first = want[j].Values[0]
						}
						if !ok || !bytes.Equal(a.JSON, want[j].JSON) || a.First() != first {
							t.Errorf("Seek(%08X) = %+v, %v", want[j].Tag, a, ok)
						}
					}
					if _, ok := rd.Seek(0xFFFFFFFF); ok {
						t.Error("Seek past the end found something")
					}
				}
			}
		})
	}
}
