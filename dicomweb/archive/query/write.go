package query

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/minipacs/minipacs/dicomweb/dicom/jsonstr"

	"github.com/minipacs/minipacs/index"
)

// Write writes the DICOM JSON object of one result: the selected attributes
// from res (looked up at the target level first, then the levels above),
// RetrieveURL and InstanceAvailability computed, in ascending tag order.
// base is the DICOMweb root URL, e.g. "http://host:8042/dicomweb". The
// object is built in a pooled buffer and handed to w in one Write.
func (r *Request) Write(w io.Writer, base string, res *index.Result) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	b, err := r.appendObject((*bp)[:0], base, res)
	if cap(b) <= maxPooledBuf {
		*bp = b
	}
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("qido: write result: %w", err)
	}
	return nil
}

// bufPool holds the buffers Write builds objects in. Buffers that grew
// past maxPooledBuf are not kept.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

const maxPooledBuf = 256 << 10

// levelAttrs returns res's attributes of one level.
func levelAttrs(res *index.Result, l index.Level) []index.Attr {
	switch l {
	case index.LevelStudy:
		return res.Study
	case index.LevelSeries:
		return res.Series
	}
	return res.Instance
}

// find returns the attribute with tag t among attrs (sorted by tag, but
// a linear fallback keeps unsorted input correct).
func find(attrs []index.Attr, t uint32) *index.Attr {
	lo, hi := 0, len(attrs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if attrs[m].Tag < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(attrs) && attrs[lo].Tag == t {
		return &attrs[lo]
	}
	for i := range attrs {
		if attrs[i].Tag == t {
			return &attrs[i]
		}
	}
	return nil
}

// firstValue is the first value of level l's attribute t, without
// padding ("" when absent).
func firstValue(res *index.Result, l index.Level, t uint32) string {
	var v string
	if res.Encoded() {
		rd := res.Reader(l)
		a, ok := rd.Seek(t)
		if !ok {
			return ""
		}
		v = a.First()
	} else {
		a := find(levelAttrs(res, l), t)
		if a == nil || len(a.Values) == 0 {
			return ""
		}
		v = a.Values[0]
	}
	return strings.TrimRight(v, " \x00")
}

// retrieveURL appends the JSON string of the URL of the entity a result
// stands for.
func (r *Request) retrieveURL(b []byte, base string, res *index.Result) ([]byte, error) {
	study := firstValue(res, index.LevelStudy, tagStudyInstanceUID)
	if study == "" {
		study = r.Query.StudyUID
	}
	if study == "" {
		return b, errors.New("qido: write result: no StudyInstanceUID")
	}
	var series, inst string
	if r.Query.Level >= index.LevelSeries {
		series = firstValue(res, index.LevelSeries, tagSeriesInstanceUID)
		if series == "" {
			series = r.Query.SeriesUID
		}
		if series == "" {
			return b, errors.New("qido: write result: no SeriesInstanceUID")
		}
	}
	if r.Query.Level == index.LevelInstance {
		inst = firstValue(res, index.LevelInstance, tagSOPInstanceUID)
		if inst == "" {
			return b, errors.New("qido: write result: no SOPInstanceUID")
		}
	}
	parts := [6]string{strings.TrimRight(base, "/"), "/studies/", url.PathEscape(study)}
	if series != "" {
		parts[3], parts[4] = "/series/", url.PathEscape(series)
	}
	if inst != "" {
		parts[5] = "/instances/" + url.PathEscape(inst)
	}
	for _, p := range parts {
		if !jsonVerbatim(p) {
			// Rare: escape the whole URL.
			return jsonstr.Append(b, strings.Join(parts[:], "")), nil
		}
	}
	b = append(b, '"')
	for _, p := range parts {
		b = append(b, p...)
	}
	return append(b, '"'), nil
}

// jsonVerbatim reports whether encoding/json writes s inside a JSON string
// unchanged: printable ASCII other than '"', '\\' and the HTML-escaped
// '<', '>' and '&'.
func jsonVerbatim(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x80, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// finder looks the selected fields up in one result, at the target level
// first, then the levels above it. For an encoded result (the index's
// sorted lists) and fields in ascending tag order, it walks each level
// once, merging; otherwise each lookup searches afresh.
type finder struct {
	res     *index.Result
	level   index.Level
	merge   bool
	readers [3]index.AttrReader
}

func newFinder(res *index.Result, level index.Level, fields []Field) finder {
	f := finder{res: res, level: level}
	if !res.Encoded() {
		return f
	}
	f.merge = slices.IsSortedFunc(fields, func(a, b Field) int { return cmp.Compare(a.Tag, b.Tag) })
	if f.merge {
		for l := index.LevelStudy; l <= level; l++ {
			f.readers[l] = res.Reader(l)
		}
	}
	return f
}

// lookup returns the DICOM JSON and VR of tag t.
func (f *finder) lookup(t uint32) (json []byte, vr string, ok bool) {
	for l := f.level; l >= index.LevelStudy; l-- {
		switch {
		case !f.res.Encoded():
			if a := find(levelAttrs(f.res, l), t); a != nil {
				return a.JSON, a.VR, true
			}
		case f.merge:
			if a, ok := f.readers[l].Seek(t); ok {
				return a.JSON, a.VR, true
			}
		default:
			rd := f.res.Reader(l)
			if a, ok := rd.Seek(t); ok {
				return a.JSON, a.VR, true
			}
		}
	}
	return nil, "", false
}

// appendObject appends the DICOM JSON object of one result to b.
func (r *Request) appendObject(b []byte, base string, res *index.Result) ([]byte, error) {
	if res == nil {
		return b, errors.New("qido: write result: nil result")
	}
	fields := r.Include.Fields
	if r.Include.All {
		fp := fieldsPool.Get().(*[]Field)
		defer fieldsPool.Put(fp)
		*fp = r.allFields((*fp)[:0], res)
		fields = *fp
	}
	fd := newFinder(res, r.Query.Level, fields)
	b = append(b, '{')
	n := 0
	key := func(t uint32) {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		const hexDigits = "0123456789ABCDEF"
		b = append(b, '"',
			hexDigits[t>>28], hexDigits[(t>>24)&0xF], hexDigits[(t>>20)&0xF], hexDigits[(t>>16)&0xF],
			hexDigits[(t>>12)&0xF], hexDigits[(t>>8)&0xF], hexDigits[(t>>4)&0xF], hexDigits[t&0xF],
			'"', ':')
	}
	for _, f := range fields {
		switch f.Tag {
		case tagRetrieveURL:
			key(f.Tag)
			b = append(b, `{"vr":"UR","Value":[`...)
			var err error
			if b, err = r.retrieveURL(b, base, res); err != nil {
				return b, err
			}
			b = append(b, `]}`...)
			continue
		case tagInstanceAvailability:
			key(f.Tag)
			b = append(b, `{"vr":"CS","Value":["ONLINE"]}`...)
			continue
		}
		js, vr, found := fd.lookup(f.Tag)
		switch {
		case found && len(js) > 0:
			key(f.Tag)
			b = append(b, js...)
		case found && validVR(vr):
			key(f.Tag)
			b = append(b, `{"vr":"`...)
			b = append(b, vr...)
			b = append(b, `"}`...)
		case validVR(f.VR):
			key(f.Tag)
			b = append(b, `{"vr":"`...)
			b = append(b, f.VR...)
			b = append(b, `"}`...)
		}
	}
	return append(b, '}'), nil
}

// fieldsPool holds the scratch field lists of includefield=all.
var fieldsPool = sync.Pool{New: func() any { f := make([]Field, 0, 64); return &f }}

// allFields appends to out the fields of an includefield=all answer: the
// selected fields and every attribute of res at the returned levels, in
// ascending tag order; for a tag listed more than once the first VR (the
// selection's, then that of the highest level) wins.
func (r *Request) allFields(out []Field, res *index.Result) []Field {
	out = append(out, r.Include.Fields...)
	for _, l := range r.Include.Levels {
		rd := res.Reader(l)
		for a, ok := rd.Next(); ok; a, ok = rd.Next() {
			out = append(out, Field{a.Tag, a.VR})
		}
	}
	slices.SortStableFunc(out, func(a, b Field) int { return cmp.Compare(a.Tag, b.Tag) })
	return slices.CompactFunc(out, func(a, b Field) bool { return a.Tag == b.Tag })
}

// validVR reports whether vr is two upper-case letters (safe to write
// unquoted into JSON).
func validVR(vr string) bool {
	return len(vr) == 2 && vr[0] >= 'A' && vr[0] <= 'Z' && vr[1] >= 'A' && vr[1] <= 'Z'
}

// ArrayWriter streams the JSON array of a search answer: "[", the results
// separated by commas, "]". Nothing is written before the first result, so
// the caller can still choose headers until then.
type ArrayWriter struct {
	w    io.Writer
	r    *Request
	base string
	n    int
	buf  []byte
}

// NewArrayWriter returns an ArrayWriter for the results of r.
func (r *Request) NewArrayWriter(w io.Writer, base string) *ArrayWriter {
	return &ArrayWriter{w: w, r: r, base: base}
}

// Write writes one result.
func (a *ArrayWriter) Write(res *index.Result) error {
	sep := byte(',')
	if a.n == 0 {
		sep = '['
	}
	b, err := a.r.appendObject(append(a.buf[:0], sep), a.base, res)
	if cap(b) <= maxPooledBuf {
		a.buf = b
	}
	if err != nil {
		return err
	}
	if _, err := a.w.Write(b); err != nil {
		return fmt.Errorf("qido: write result: %w", err)
	}
	a.n++
	return nil
}

// Count is the number of results written.
func (a *ArrayWriter) Count() int { return a.n }

// Close ends the array ("[]" when there was no result). It does not close
// the underlying writer.
func (a *ArrayWriter) Close() error {
	end := "]"
	if a.n == 0 {
		end = "[]"
	}
	if _, err := io.WriteString(a.w, end); err != nil {
		return fmt.Errorf("qido: write results: %w", err)
	}
	return nil
}
