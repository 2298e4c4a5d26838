package index_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
)

// TestSearchRounds checks that a search read in bounded rounds of
// candidates and batches of results (several transactions) gives the page
// of the same search over a UID list of every study (every candidate
// collected and sorted at once, one transaction), also when most
// candidates fail another filter (several rounds) and when an index lists
// a study twice (duplicates at a round's edge).
func TestSearchRounds(t *testing.T) {
	ix, _ := openTest(t, index.Options{})
	const n = 1200
	if err := indextest.Populate(context.Background(), ix, n, func(i int) *index.Instance { return indextest.Instance(i) }); err != nil {
		t.Fatal(err)
	}
	uids := make([]string, n)
	for i := range uids {
		uids[i] = indextest.DefaultSpec(i).StudyUID
	}
	key := func(r *index.Result) string {
		return attrValue(r.Attrs(index.LevelStudy), tStudyUID) + "/" + attrValue(r.Attrs(index.LevelSeries), tSeriesUID) + "/" +
			attrValue(r.Attrs(index.LevelInstance), tSOPUID) + "/" + attrValue(r.Attrs(index.LevelStudy), tPatientName)
	}
	queries := []struct {
		name    string
		level   index.Level
		filters []index.Filter
	}{
		{"modality", index.LevelStudy, []index.Filter{single(tModality, "CS", "CT")}},
		{"modality and sex (sparse)", index.LevelStudy, []index.Filter{single(tModality, "CS", "CT"), single(tSex, "CS", "F")}},
		{"modality listed twice", index.LevelSeries, []index.Filter{list(tModality, "CS", "MR", "MR", "CT"), single(tSex, "CS", "M")}},
		{"name prefix", index.LevelInstance, []index.Filter{wild(tPatientName, "PN", "M*")}},
		{"patient ID key scan", index.LevelStudy, []index.Filter{wild(tPatientID, "LO", "*1?"), single(tSex, "CS", "O")}},
		{"no filter (date index scan)", index.LevelStudy, nil},
		{"instances, sex (date index scan)", index.LevelInstance, []index.Filter{single(tSex, "CS", "F")}},
		{"date range (date index walk)", index.LevelSeries, []index.Filter{rng(tStudyDate, "DA", "20160101", "20201231")}},
		{"study dates", index.LevelStudy, []index.Filter{list(tStudyDate, "DA", indextest.StudyDate(3), indextest.StudyDate(5), indextest.StudyDate(3))}},
	}
	for _, qc := range queries {
		t.Run(qc.name, func(t *testing.T) {
			// The oracle: the same query restricted to a list of every
			// study UID, which collects and sorts its candidates at once
			// in one transaction.
			var all []string
			for _, r := range search(t, ix, index.Query{Level: qc.level, Filters: append(slices.Clone(qc.filters), list(tStudyUID, "UI", uids...))}) {
				all = append(all, key(r))
			}
			if len(all) == 0 {
				t.Fatal("no results")
			}
			seen := map[string]bool{}
			for _, k := range all {
				if seen[k] {
					t.Errorf("result %s twice", k)
				}
				seen[k] = true
			}
			for _, lo := range [][2]int{{0, 0}, {1, 0}, {5, 0}, {10, 3}, {50, 20}, {7, max(len(all)-3, 0)}, {100, len(all)}, {len(all) + 5, 0}, {0, 70}} {
				limit, offset := lo[0], lo[1]
				end := len(all)
				if limit > 0 {
					end = min(offset+limit, end)
				}
				want := all[min(offset, len(all)):end]
				for _, reuse := range []bool{false, true} {
					encoded := reuse // as qido asks
					// With Reuse a result is only valid in fn: key copies.
					var got []string
					err := ix.Search(context.Background(), index.Query{Level: qc.level, Filters: qc.filters, Limit: limit, Offset: offset, Reuse: reuse, Encoded: encoded}, func(r *index.Result) error {
						got = append(got, key(r))
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, want) {
						t.Errorf("limit %d offset %d reuse %v: %d results %v, want %d %v", limit, offset, reuse, len(got), head(got), len(want), head(want))
					}
				}
			}
		})
	}
}

func head(s []string) string {
	if len(s) > 3 {
		return fmt.Sprint(s[:3], "...")
	}
	return fmt.Sprint(s)
}

// TestSearchBatchesResume deletes, between two batches, the study a batch
// ended with (its callback runs outside any transaction): the next batch
// resumes after it, giving every other study once, in order.
func TestSearchBatchesResume(t *testing.T) {
	ix, _ := openTest(t, index.Options{})
	const n = 300
	if err := indextest.Populate(context.Background(), ix, n, func(i int) *index.Instance { return indextest.Instance(i) }); err != nil {
		t.Fatal(err)
	}
	for _, qc := range []struct {
		name    string
		filters []index.Filter
	}{
		{"date index scan", nil},
		{"index probe", []index.Filter{wild(tPatientID, "LO", "PID*")}},
	} {
		t.Run(qc.name, func(t *testing.T) {
			want := studyUIDs(search(t, ix, index.Query{Level: index.LevelStudy, Filters: qc.filters}))
			var got, deleted []string
			err := ix.Search(context.Background(), index.Query{Level: index.LevelStudy, Filters: qc.filters}, func(r *index.Result) error {
				uid := attrValue(r.Study, tStudyUID)
				got = append(got, uid)
				if len(got)%64 == 0 { // the last of a batch
					if _, err := ix.Delete(context.Background(), uid, "", ""); err != nil {
						return err
					}
					deleted = append(deleted, uid)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(deleted) < 2 {
				t.Fatalf("only %d batches", len(deleted)+1)
			}
			if !slices.Equal(got, want) {
				t.Errorf("got %d results %v, want %d %v", len(got), head(got), len(want), head(want))
			}
			// The next query no longer has them.
			after := studyUIDs(search(t, ix, index.Query{Level: index.LevelStudy, Filters: qc.filters}))
			if len(after) != len(want)-len(deleted) {
				t.Errorf("%d studies after deleting %d of %d", len(after), len(deleted), len(want))
			}
		})
	}
}
