package qido

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/minipacs/minipacs/index"
)

// Write writes the DICOM JSON object of one result: the selected attributes
// from res (looked up at the target level first, then the levels above),
// RetrieveURL and InstanceAvailability computed, in ascending tag order.
// base is the DICOMweb root URL, e.g. "http://host:8042/dicomweb".
func (r *Request) Write(w io.Writer, base string, res *index.Result) error {
	var buf bytes.Buffer
	if err := r.appendObject(&buf, base, res); err != nil {
		return err
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("qido: write result: %w", err)
	}
	return nil
}

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

func firstValue(a *index.Attr) string {
	if a == nil || len(a.Values) == 0 {
		return ""
	}
	return strings.TrimRight(a.Values[0], " \x00")
}

// retrieveURL is the URL of the entity a result stands for.
func (r *Request) retrieveURL(base string, res *index.Result) (string, error) {
	study := firstValue(find(res.Study, tagStudyInstanceUID))
	if study == "" {
		study = r.Query.StudyUID
	}
	if study == "" {
		return "", errors.New("qido: write result: no StudyInstanceUID")
	}
	u := strings.TrimRight(base, "/") + "/studies/" + url.PathEscape(study)
	if r.Query.Level == index.LevelStudy {
		return u, nil
	}
	series := firstValue(find(res.Series, tagSeriesInstanceUID))
	if series == "" {
		series = r.Query.SeriesUID
	}
	if series == "" {
		return "", errors.New("qido: write result: no SeriesInstanceUID")
	}
	u += "/series/" + url.PathEscape(series)
	if r.Query.Level == index.LevelSeries {
		return u, nil
	}
	inst := firstValue(find(res.Instance, tagSOPInstanceUID))
	if inst == "" {
		return "", errors.New("qido: write result: no SOPInstanceUID")
	}
	return u + "/instances/" + url.PathEscape(inst), nil
}

// lookup finds tag t at the target level, then the levels above it.
func (r *Request) lookup(res *index.Result, t uint32) *index.Attr {
	for l := r.Query.Level; l >= index.LevelStudy; l-- {
		if a := find(levelAttrs(res, l), t); a != nil {
			return a
		}
	}
	return nil
}

func (r *Request) appendObject(buf *bytes.Buffer, base string, res *index.Result) error {
	if res == nil {
		return errors.New("qido: write result: nil result")
	}
	fields := r.Include.Fields
	if r.Include.All {
		set := fieldSet{}
		for _, f := range fields {
			set.add(f)
		}
		for _, l := range r.Include.Levels {
			for _, a := range levelAttrs(res, l) {
				set.add(Field{a.Tag, a.VR})
			}
		}
		fields = set.sorted()
	}
	buf.WriteByte('{')
	n := 0
	key := func(t uint32) {
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		var k [11]byte
		k[0], k[9], k[10] = '"', '"', ':'
		const hexDigits = "0123456789ABCDEF"
		for i := 0; i < 8; i++ {
			k[8-i] = hexDigits[(t>>(4*i))&0xF]
		}
		buf.Write(k[:])
	}
	for _, f := range fields {
		switch f.Tag {
		case tagRetrieveURL:
			u, err := r.retrieveURL(base, res)
			if err != nil {
				return err
			}
			s, err := json.Marshal(u)
			if err != nil {
				return fmt.Errorf("qido: write result: %w", err)
			}
			key(f.Tag)
			buf.WriteString(`{"vr":"UR","Value":[`)
			buf.Write(s)
			buf.WriteString(`]}`)
			continue
		case tagInstanceAvailability:
			key(f.Tag)
			buf.WriteString(`{"vr":"CS","Value":["ONLINE"]}`)
			continue
		}
		a := r.lookup(res, f.Tag)
		switch {
		case a != nil && len(a.JSON) > 0:
			key(f.Tag)
			buf.Write(a.JSON)
		case a != nil && validVR(a.VR):
			key(f.Tag)
			buf.WriteString(`{"vr":"` + a.VR + `"}`)
		case validVR(f.VR):
			key(f.Tag)
			buf.WriteString(`{"vr":"` + f.VR + `"}`)
		}
	}
	buf.WriteByte('}')
	return nil
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
	buf  bytes.Buffer
}

// NewArrayWriter returns an ArrayWriter for the results of r.
func (r *Request) NewArrayWriter(w io.Writer, base string) *ArrayWriter {
	return &ArrayWriter{w: w, r: r, base: base}
}

// Write writes one result.
func (a *ArrayWriter) Write(res *index.Result) error {
	a.buf.Reset()
	if a.n == 0 {
		a.buf.WriteByte('[')
	} else {
		a.buf.WriteByte(',')
	}
	if err := a.r.appendObject(&a.buf, a.base, res); err != nil {
		return err
	}
	if _, err := a.w.Write(a.buf.Bytes()); err != nil {
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
