package indextest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/index"
)

// Row is one search result copied out of the engine through
// Result.Attrs, one attribute list per level (study, series, instance):
// engines may answer in decoded or encoded form, and with Query.Reuse a
// Result is only valid until the callback returns.
type Row [3][]index.Attr

// RowOf copies a result.
func RowOf(r *index.Result) Row {
	var row Row
	for l := index.LevelStudy; l <= index.LevelInstance; l++ {
		for _, a := range r.Attrs(l) {
			// Deep copies: with Reuse, values may share the result's
			// memory.
			vals := make([]string, len(a.Values))
			for i, v := range a.Values {
				vals[i] = strings.Clone(v)
			}
			row[l] = append(row[l], index.Attr{Tag: a.Tag, VR: strings.Clone(a.VR), Values: vals, JSON: bytes.Clone(a.JSON)})
		}
	}
	return row
}

// SearchRows runs q on e and returns its results copied.
func SearchRows(ctx context.Context, e index.Engine, q index.Query) ([]Row, error) {
	var out []Row
	err := e.Search(ctx, q, func(r *index.Result) error {
		out = append(out, RowOf(r))
		return nil
	})
	return out, err
}

// uidTags are the UIDs that identify a row at each level.
var uidTags = [3]uint32{0x0020000D, 0x0020000E, 0x00080018}

// UID returns the UID of the row at level l.
func (r Row) UID(l index.Level) string { return value(r[l], uidTags[l]) }

// first returns the first value of tag among attrs ("" when none).
func value(attrs []index.Attr, tag uint32) string {
	if a := find(attrs, tag); a != nil && len(a.Values) > 0 {
		return a.Values[0]
	}
	return ""
}

func find(attrs []index.Attr, tag uint32) *index.Attr {
	for i := range attrs {
		if attrs[i].Tag == tag {
			return &attrs[i]
		}
	}
	return nil
}

// DiffAttrs describes the first difference between two attribute lists
// (tag, VR, values, JSON; no values and empty values are the same), or
// returns "" when they are equal.
func DiffAttrs(got, want []index.Attr) string {
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(got):
			return fmt.Sprintf("attribute %d missing: want %s", i, FormatAttr(want[i]))
		case i >= len(want):
			return fmt.Sprintf("attribute %d extra: got %s", i, FormatAttr(got[i]))
		}
		g, w := got[i], want[i]
		if g.Tag != w.Tag || g.VR != w.VR || !bytes.Equal(g.JSON, w.JSON) ||
			!(slices.Equal(g.Values, w.Values) || len(g.Values) == 0 && len(w.Values) == 0) {
			return fmt.Sprintf("attribute %d: got %s, want %s", i, FormatAttr(g), FormatAttr(w))
		}
	}
	return ""
}

// DiffRows describes the first difference between two rows, or "".
func DiffRows(got, want Row) string {
	for l := range got {
		if d := DiffAttrs(got[l], want[l]); d != "" {
			return fmt.Sprintf("level %d: %s", l, d)
		}
	}
	return ""
}

// FormatAttr formats an attribute for messages.
func FormatAttr(a index.Attr) string {
	return fmt.Sprintf("(%08X) %s %q %s", a.Tag, a.VR, a.Values, a.JSON)
}

// FormatRow formats a row for messages.
func FormatRow(r Row) string {
	var b strings.Builder
	for l, attrs := range r {
		fmt.Fprintf(&b, "\n  level %d:", l)
		for _, a := range attrs {
			b.WriteString("\n    " + FormatAttr(a))
		}
	}
	return b.String()
}

// FormatQuery formats a query for messages.
func FormatQuery(q index.Query) string {
	var b strings.Builder
	fmt.Fprintf(&b, "level=%d", q.Level)
	if q.StudyUID != "" {
		fmt.Fprintf(&b, " study=%s", q.StudyUID)
	}
	if q.SeriesUID != "" {
		fmt.Fprintf(&b, " series=%s", q.SeriesUID)
	}
	for _, f := range q.Filters {
		kind := [...]string{"single", "wildcard", "range", "list"}[f.Kind]
		if f.Kind == index.MatchRange {
			fmt.Fprintf(&b, " (%08X %s %s %q-%q)", f.Tag, f.VR, kind, f.Low, f.High)
		} else {
			fmt.Fprintf(&b, " (%08X %s %s %q)", f.Tag, f.VR, kind, f.Values)
		}
	}
	fmt.Fprintf(&b, " fuzzy=%v limit=%d offset=%d encoded=%v reuse=%v", q.Fuzzy, q.Limit, q.Offset, q.Encoded, q.Reuse)
	return b.String()
}

// search runs q and fails the test on an error.
func search(t *testing.T, e index.Engine, q index.Query) []Row {
	t.Helper()
	rows, err := SearchRows(context.Background(), e, q)
	if err != nil {
		t.Fatalf("Search %s: %v", FormatQuery(q), err)
	}
	return rows
}

// uids returns the UIDs of rows at level l.
func uids(rows []Row, l index.Level) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.UID(l))
	}
	return out
}
