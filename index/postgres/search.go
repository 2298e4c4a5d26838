package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/minipacs/minipacs/index"
)

// Tags the search pushes down to SQL.
const (
	tagStudyInstanceUID  = 0x0020000D
	tagSeriesInstanceUID = 0x0020000E
	tagSOPInstanceUID    = 0x00080018
	tagPatientID         = 0x00100020
	tagPatientName       = 0x00100010
	tagAccessionNumber   = 0x00080050
	tagStudyDescription  = 0x00081030
	tagStudyDate         = 0x00080020
	tagModality          = 0x00080060
	tagModalitiesInStudy = 0x00080061
)

// plan is a query translated to SQL: conditions on the studies (alias s),
// series (x) and instances (i) that every match meets. They only narrow
// the candidates: every candidate is checked by index.Matcher, so the
// answers are bbolt's exactly (index/indextest's differential test).
type plan struct {
	study, series, ins []cond
}

// cond is one SQL condition; each '?' in it stands for the next of args.
type cond struct {
	sql  string
	args []any
}

func c(sql string, args ...any) cond { return cond{sql, args} }

// render appends the conditions to sql with AND, numbering their
// parameters after those in args, and returns both.
func render(sql string, args []any, conds []cond) (string, []any) {
	var b strings.Builder
	b.WriteString(sql)
	for _, cd := range conds {
		b.WriteString(" AND ")
		k := 0
		for _, r := range cd.sql {
			if r == '?' {
				args = append(args, cd.args[k])
				k++
				b.WriteString("$" + strconv.Itoa(len(args)))
				continue
			}
			b.WriteRune(r)
		}
	}
	return b.String(), args
}

// likeOf turns a DICOM wildcard pattern into a LIKE pattern.
func likeOf(pat string) string {
	var b strings.Builder
	for _, r := range pat {
		switch r {
		case '\\', '%', '_':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '*':
			b.WriteByte('%')
		case '?':
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// values returns the cleaned values of a single or list filter, false
// when it matches everything (no value left) or is of another kind.
func values(f index.Filter) ([]string, bool) {
	if f.Kind != index.MatchSingle && f.Kind != index.MatchList {
		return nil, false
	}
	var out []string
	for _, v := range f.Values {
		if v = index.CleanValue(f.VR, v); v != "" {
			out = append(out, v)
		}
		if f.Kind == index.MatchSingle {
			break
		}
	}
	return out, len(out) > 0
}

// wildcard returns the cleaned pattern of a wildcard filter that is not
// universal.
func wildcard(f index.Filter) (string, bool) {
	if f.Kind != index.MatchWildcard || len(f.Values) == 0 {
		return "", false
	}
	p := index.CleanValue(f.VR, f.Values[0])
	if p == "" || strings.Trim(p, "*") == "" {
		return "", false
	}
	return p, true
}

// newPlan translates what it can of q.
func newPlan(q index.Query) *plan {
	p := &plan{}
	if q.StudyUID != "" {
		p.study = append(p.study, c("s.uid = ?", q.StudyUID))
	}
	if q.SeriesUID != "" && q.Level > index.LevelStudy {
		p.study = append(p.study, c("s.uid IN (SELECT study_uid FROM series WHERE uid = ?)", q.SeriesUID))
		p.series = append(p.series, c("x.uid = ?", q.SeriesUID))
	}
	for _, f := range q.Filters {
		p.filter(q, f)
	}
	return p
}

func (p *plan) filter(q index.Query, f index.Filter) {
	vals, exact := values(f)
	pat, wild := wildcard(f)
	switch f.Tag {
	case tagStudyInstanceUID:
		if exact {
			p.study = append(p.study, c("s.uid = ANY(?)", vals))
		}
	case tagPatientID, tagAccessionNumber, tagStudyDescription:
		col := "s.pid_key"
		switch f.Tag {
		case tagAccessionNumber:
			col = "s.accession"
		case tagStudyDescription:
			col = "s.description"
		}
		switch {
		case exact:
			p.study = append(p.study, c(col+" = ANY(?)", vals))
		case wild:
			p.study = append(p.study, c(col+" LIKE ?", likeOf(pat)))
		}
	case tagPatientName:
		p.name(q, f)
	case tagStudyDate:
		p.date(f)
	case tagModalitiesInStudy:
		if exact {
			p.study = append(p.study, c("EXISTS (SELECT 1 FROM series m WHERE m.study_uid = s.uid AND m.modality = ANY(?))", vals))
		}
	case tagModality:
		if exact && q.Level == index.LevelStudy { // ModalitiesInStudy (index.NewMatcher)
			p.study = append(p.study, c("EXISTS (SELECT 1 FROM series m WHERE m.study_uid = s.uid AND m.modality = ANY(?))", vals))
		}
		if exact && q.Level > index.LevelStudy {
			p.study = append(p.study, c("EXISTS (SELECT 1 FROM series m WHERE m.study_uid = s.uid AND m.modality = ANY(?))", vals))
			p.series = append(p.series, c("x.modality = ANY(?)", vals))
		}
	case tagSeriesInstanceUID:
		if exact && q.Level > index.LevelStudy {
			p.study = append(p.study, c("s.uid IN (SELECT study_uid FROM series WHERE uid = ANY(?))", vals))
			p.series = append(p.series, c("x.uid = ANY(?)", vals))
		}
	case tagSOPInstanceUID:
		if exact && q.Level == index.LevelInstance {
			p.study = append(p.study, c("s.uid IN (SELECT study_uid FROM instances WHERE sop_uid = ANY(?))", vals))
			p.ins = append(p.ins, c("i.sop_uid = ANY(?)", vals))
		}
	}
}

// name pushes a PatientName filter down: the normalised groups (GIN) for
// single values and lists, the joined groups (trigram) for wildcards and
// fuzzy matching.
func (p *plan) name(q index.Query, f index.Filter) {
	switch f.Kind {
	case index.MatchSingle, index.MatchList:
		var groups []string
		for _, v := range f.Values {
			if strings.Contains(v, "=") {
				return // component groups: checked by the matcher only
			}
			if g := index.NormPN(v); g != "" {
				groups = append(groups, g)
			}
			if f.Kind == index.MatchSingle {
				break
			}
		}
		if len(groups) == 0 {
			return
		}
		if q.Fuzzy && f.Kind == index.MatchSingle {
			for _, comp := range index.NameComponents(groups[0]) {
				p.study = append(p.study, c("s.names_text LIKE ?", "%"+likeOf(comp)+"%"))
			}
			return
		}
		p.study = append(p.study, c("s.names && ?::text[]", groups))
	case index.MatchWildcard:
		if len(f.Values) == 0 {
			return
		}
		pat := index.NormPN(f.Values[0])
		if pat == "" || strings.Trim(pat, "*") == "" || strings.Contains(pat, "=") {
			return
		}
		p.study = append(p.study, c("s.names_text LIKE ?", "%|"+likeOf(pat)+"|%"))
	}
}

// date pushes a StudyDate filter down on the normalised date column.
func (p *plan) date(f index.Filter) {
	norm := func(v string) (string, bool) { return index.NormDate(strings.TrimSpace(v)) }
	switch f.Kind {
	case index.MatchSingle, index.MatchList:
		vals, ok := values(f)
		if !ok {
			return
		}
		var ds []string
		for _, v := range vals {
			d, ok := norm(v)
			if !ok {
				return
			}
			ds = append(ds, d)
		}
		p.study = append(p.study, c("s.study_date = ANY(?)", ds))
	case index.MatchRange:
		if f.Low != "" {
			d, ok := norm(f.Low)
			if !ok {
				return
			}
			p.study = append(p.study, c("s.study_date >= ?", d))
		}
		if f.High != "" {
			d, ok := norm(f.High)
			if !ok {
				return
			}
			p.study = append(p.study, c("s.study_date <= ?", d))
		}
	}
}

// studyColumns are a candidate study's record and computed attributes.
const studyColumns = `s.uid, s.sort_key, s.attrs,
	(SELECT count(*) FROM series x WHERE x.study_uid = s.uid),
	(SELECT count(*) FROM instances i WHERE i.study_uid = s.uid),
	ARRAY(SELECT DISTINCT x.modality FROM series x WHERE x.study_uid = s.uid AND x.modality <> '' ORDER BY 1),
	ARRAY(SELECT DISTINCT i.sop_class FROM instances i WHERE i.study_uid = s.uid ORDER BY 1)`

// Search runs a QIDO-RS query with the answers and order of
// index.Index.Search. Candidate studies are read in pages in result order
// (one statement a page, resuming after the last study of the page before),
// with their series and instances for lower-level queries (one statement
// a level a page); fn is called between pages, outside any query, so a
// search's memory is bounded by its page. Results are never reused: they
// stay valid after fn returns.
func (ix *Index) Search(ctx context.Context, q index.Query, fn func(*index.Result) error) error {
	if err := index.CheckQuery(q); err != nil {
		return err
	}
	m := index.NewMatcher(q)
	if m.Never() {
		return nil
	}
	p := newPlan(q)
	pageSize := 16
	if q.Level == index.LevelStudy {
		pageSize = 200
		if q.Limit > 0 {
			pageSize = min(max(q.Offset+q.Limit, 16), 1000)
		}
	}
	matched, emitted := 0, 0
	var afterKey, afterUID string
	first := true
	for {
		var results []*index.Result
		var n int
		err := ix.read(ctx, "search", func(qr querier) error {
			var err error
			results, n, afterKey, afterUID, err = ix.page(ctx, qr, q, p, first, afterKey, afterUID, pageSize)
			return err
		})
		if err != nil {
			return err
		}
		first = false
		for _, r := range results {
			if !m.Match(r) {
				continue
			}
			matched++
			if matched <= q.Offset {
				continue
			}
			if err := fn(r); err != nil {
				return err
			}
			emitted++
			if q.Limit > 0 && emitted >= q.Limit {
				return nil
			}
		}
		if n < pageSize {
			return nil
		}
	}
}

// page reads one page of candidate studies after (afterKey, afterUID)
// and builds the results of the query level from them.
func (ix *Index) page(ctx context.Context, qr querier, q index.Query, p *plan, first bool, afterKey, afterUID string, size int) (
	results []*index.Result, n int, lastKey, lastUID string, err error) {
	conds := p.study
	if !first {
		conds = append(conds[:len(conds):len(conds)], c("(s.sort_key, s.uid) < (?, ?)", afterKey, afterUID))
	}
	sql, args := render("SELECT "+studyColumns+" FROM studies s WHERE true", nil, conds)
	args = append(args, size)
	sql += fmt.Sprintf(" ORDER BY s.sort_key DESC, s.uid DESC LIMIT $%d", len(args))
	rows, err := qr.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, "", "", err
	}
	type study struct {
		uid   string
		attrs []index.Attr
	}
	var studies []study
	for rows.Next() {
		var uid, key string
		var attrs []byte
		var nSeries, nInst int
		var mods, classes []string
		if err := rows.Scan(&uid, &key, &attrs, &nSeries, &nInst, &mods, &classes); err != nil {
			rows.Close()
			return nil, 0, "", "", err
		}
		list, err := index.UnpackAttrs(attrs)
		if err != nil {
			rows.Close()
			return nil, 0, "", "", fmt.Errorf("study %s: %w", uid, err)
		}
		studies = append(studies, study{uid, index.WithAttrs(list, index.ComputedStudy(mods, classes, nSeries, nInst)...)})
		lastKey, lastUID = key, uid
	}
	if err := rows.Err(); err != nil {
		return nil, 0, "", "", err
	}
	n = len(studies)
	if q.Level == index.LevelStudy {
		for _, st := range studies {
			results = append(results, &index.Result{Study: st.attrs})
		}
		return results, n, lastKey, lastUID, nil
	}
	if n == 0 {
		return nil, 0, lastKey, lastUID, nil
	}
	uids := make([]string, n)
	for i, st := range studies {
		uids[i] = st.uid
	}
	// The series of the page's studies.
	sql, args = render(`SELECT x.study_uid, x.uid, x.attrs, (SELECT count(*) FROM instances i WHERE i.series_uid = x.uid)
FROM series x WHERE x.study_uid = ANY($1)`, []any{uids}, p.series)
	rows, err = qr.Query(ctx, sql+" ORDER BY x.study_uid, x.number, x.uid", args...)
	if err != nil {
		return nil, 0, "", "", err
	}
	type series struct {
		uid   string
		attrs []index.Attr
	}
	seriesOf := map[string][]series{}
	var seriesUIDs []string
	for rows.Next() {
		var st, uid string
		var attrs []byte
		var nInst int
		if err := rows.Scan(&st, &uid, &attrs, &nInst); err != nil {
			rows.Close()
			return nil, 0, "", "", err
		}
		list, err := index.UnpackAttrs(attrs)
		if err != nil {
			rows.Close()
			return nil, 0, "", "", fmt.Errorf("series %s: %w", uid, err)
		}
		seriesOf[st] = append(seriesOf[st], series{uid, index.WithAttrs(list, index.ComputedSeries(nInst))})
		seriesUIDs = append(seriesUIDs, uid)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, "", "", err
	}
	if q.Level == index.LevelSeries {
		for _, st := range studies {
			for _, se := range seriesOf[st.uid] {
				results = append(results, &index.Result{Study: st.attrs, Series: se.attrs})
			}
		}
		return results, n, lastKey, lastUID, nil
	}
	// The instances of those series.
	sql, args = render(`SELECT i.series_uid, i.attrs FROM instances i WHERE i.series_uid = ANY($1)`, []any{seriesUIDs}, p.ins)
	rows, err = qr.Query(ctx, sql+" ORDER BY i.series_uid, i.number, i.sop_uid", args...)
	if err != nil {
		return nil, 0, "", "", err
	}
	instOf := map[string][][]index.Attr{}
	for rows.Next() {
		var se string
		var attrs []byte
		if err := rows.Scan(&se, &attrs); err != nil {
			rows.Close()
			return nil, 0, "", "", err
		}
		list, err := index.UnpackAttrs(attrs)
		if err != nil {
			rows.Close()
			return nil, 0, "", "", fmt.Errorf("instance: %w", err)
		}
		instOf[se] = append(instOf[se], list)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, "", "", err
	}
	for _, st := range studies {
		for _, se := range seriesOf[st.uid] {
			for _, in := range instOf[se.uid] {
				results = append(results, &index.Result{Study: st.attrs, Series: se.attrs, Instance: in})
			}
		}
	}
	return results, n, lastKey, lastUID, nil
}
