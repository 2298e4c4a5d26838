package index_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
)

// TestDateRangeStreamOrder: a StudyDate range query (walked newest first
// on the date index, stopping at the limit) returns exactly the studies of
// an unfiltered full scan whose date is in the range, in the same order,
// for every limit and offset.
func TestDateRangeStreamOrder(t *testing.T) {
	ctx := context.Background()
	ix, _ := openTest(t, index.Options{})
	// Many studies share dates (and some times), so ties are ordered by UID.
	const n = 300
	err := indextest.Populate(ctx, ix, n, func(i int) *index.Instance {
		date := fmt.Sprintf("2024%02d%02d", 1+i%3, 1+i%7)
		tm := fmt.Sprintf("%02d0000", i%2)
		if i%50 == 0 {
			date = "" // no date
		}
		return indextest.Instance(i, indextest.Date(date, tm))
	})
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ uid, date string }
	search := func(q index.Query) []row {
		t.Helper()
		var out []row
		err := ix.Search(ctx, q, func(r *index.Result) error {
			var rw row
			for _, a := range r.Attrs(index.LevelStudy) {
				switch {
				case a.Tag == 0x0020000D && len(a.Values) > 0:
					rw.uid = a.Values[0]
				case a.Tag == 0x00080020 && len(a.Values) > 0:
					rw.date = a.Values[0]
				}
			}
			out = append(out, rw)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	all := search(index.Query{Level: index.LevelStudy})
	if len(all) != n {
		t.Fatalf("full scan: %d studies", len(all))
	}
	for _, span := range [][2]string{{"20240201", "20240303"}, {"", "20240105"}, {"20240302", ""}, {"20240104", "20240104"}} {
		var want []row
		for _, r := range all {
			if r.date != "" && (span[0] == "" || r.date >= span[0]) && (span[1] == "" || r.date <= span[1]) {
				want = append(want, r)
			}
		}
		for _, lim := range []int{0, 1, 7, 25, 1000} {
			for _, off := range []int{0, 3, 40} {
				f := index.Filter{Tag: 0x00080020, VR: "DA", Kind: index.MatchRange, Low: span[0], High: span[1]}
				got := search(index.Query{Level: index.LevelStudy, Filters: []index.Filter{f}, Limit: lim, Offset: off})
				exp := want[min(off, len(want)):]
				if lim > 0 {
					exp = exp[:min(lim, len(exp))]
				}
				if !slices.Equal(got, exp) {
					t.Errorf("range %v limit %d offset %d: %d results, want %d (first %v vs %v)", span, lim, off, len(got), len(exp), first(got), first(exp))
				}
			}
		}
	}
}

func first[T any](s []T) any {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}
