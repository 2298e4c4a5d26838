package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"slices"
	"testing"
	"time"
)

func testInstance() *Instance {
	return &Instance{
		StudyUID: "1.2", SeriesUID: "1.2.3", SOPInstanceUID: "1.2.3.4", SOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
		TransferSyntaxUID: "1.2.840.10008.1.2.1", ObjectKey: "obj/abc", Size: 1234,
		Layout: []byte{1, 2, 3}, Stored: time.Unix(1700000000, 5),
		Instance: []Attr{
			{Tag: 0x00080008, VR: "CS", Values: []string{"ORIGINAL", "", "AXIAL"}, JSON: []byte(`{"vr":"CS","Value":["ORIGINAL",null,"AXIAL"]}`)},
			{Tag: 0x00200013, VR: "IS", Values: []string{"-7"}, JSON: []byte(`{"vr":"IS","Value":[-7]}`)},
		},
	}
}

// TestCodecRoundTripAndTruncation: records decode to what was encoded, and
// every truncation of them is an error, never a panic.
func TestCodecRoundTripAndTruncation(t *testing.T) {
	in := testInstance()
	inst := encodeInst(in, true, -7, appendAttrs(nil, in.Instance))
	r, err := decodeInst([]byte(in.SOPInstanceUID), inst)
	if err != nil {
		t.Fatal(err)
	}
	if r.ObjectKey != in.ObjectKey || r.Size != in.Size || r.Number != -7 || !r.HasNumber || r.Stored != in.Stored.UnixNano() ||
		!bytes.Equal(r.layoutView, in.Layout) || r.SOPClassUID != in.SOPClassUID {
		t.Errorf("decodeInst = %+v", r)
	}
	list, err := r.attrs.list(nil)
	if err != nil || !bytes.Equal(list, appendAttrs(nil, in.Instance)) {
		t.Fatalf("instance attr list %q, %v", list, err)
	}
	attrs, err := new(arena).copyAttrs(list, nil)
	if err != nil || len(attrs) != 2 || !slices.Equal(attrs[0].Values, in.Instance[0].Values) ||
		string(attrs[1].JSON) != string(in.Instance[1].JSON) {
		t.Errorf("copyAttrs = %+v, %v", attrs, err)
	}
	st := studyRec{PatientID: []byte("P"), Issuer: []byte("I"), Demo: []byte("d"), NSeries: 2, NInst: 5,
		Modalities: []counted{{"CT", 1}, {"MR", 1}}, SOPClasses: []counted{{"1.2", 5}}, Attrs: packedAttrs{b: packAttrs(appendAttrs(nil, in.Instance))}, decoded: true}
	copy(st.SortKey[:], "20240101000000.000000")
	study := st.encode()
	got, err := decodeStudy(study, true)
	if err != nil || got.NInst != 5 || len(got.Modalities) != 2 || got.SOPClasses[0].N != 5 || string(got.SortKey[:]) != "20240101000000.000000" {
		t.Errorf("decodeStudy = %+v, %v", got, err)
	}
	// Re-encoding a lazily decoded record keeps the sets.
	lazy, _ := decodeStudy(study, false)
	if !bytes.Equal(lazy.encode(), study) {
		t.Error("lazy study re-encode differs")
	}
	series := (&seriesRec{HasNumber: true, Number: 3, Modality: "CT", NInst: 4, Attrs: st.Attrs}).encode()
	for name, c := range map[string]struct {
		b   []byte
		dec func([]byte) error
	}{
		"inst":   {inst, func(b []byte) error { _, err := decodeInst([]byte("1.2.3"), b); return err }},
		"study":  {study, func(b []byte) error { _, err := decodeStudy(b, true); return err }},
		"series": {series, func(b []byte) error { _, err := decodeSeries(b); return err }},
		"attrs": {st.Attrs.b, func(b []byte) error {
			list, err := packedAttrs{b: b}.list(nil)
			if err != nil {
				return err
			}
			a, err := new(arena).copyAttrs(list, nil)
			if err == nil && len(a) != 2 {
				return errCorrupt
			}
			return err
		}},
	} {
		if err := c.dec(c.b); err != nil {
			t.Errorf("%s: full record: %v", name, err)
		}
		for n := 0; n < len(c.b); n++ {
			if err := c.dec(c.b[:n]); err == nil {
				t.Errorf("%s truncated to %d bytes decoded without error", name, n)
			}
		}
	}
}

// TestPackedAttrs: attr lists round-trip through both packed kinds, in
// records of both versions (version 1, before schema 3, has the list
// itself), and unpacking appends without overwriting earlier lists.
func TestPackedAttrs(t *testing.T) {
	in := testInstance()
	long := appendAttrs(nil, in.Instance)
	short := appendAttrs(nil, nil) // 1 byte: stays raw
	pl, ps := packAttrs(long), packAttrs(short)
	if pl[0] != attrsS2 || len(pl) >= len(long) {
		t.Errorf("long list packed to kind %d, %d bytes (list %d)", pl[0], len(pl), len(long))
	}
	if ps[0] != attrsRaw || !bytes.Equal(ps[1:], short) {
		t.Errorf("short list packed to %q", ps)
	}
	var buf []byte
	a, err := packedAttrs{b: pl}.list(&buf)
	if err != nil || !bytes.Equal(a, long) {
		t.Fatalf("unpack: %q, %v", a, err)
	}
	b, err := packedAttrs{b: pl}.list(&buf)
	if err != nil || !bytes.Equal(b, long) || !bytes.Equal(a, long) || len(buf) != 2*len(long) {
		t.Fatalf("second unpack into the same buffer: %q, first now %q, %v", b, a, err)
	}
	if l, err := (packedAttrs{b: long, plain: true}).list(nil); err != nil || !bytes.Equal(l, long) {
		t.Errorf("plain list: %q, %v", l, err)
	}
	if got := (packedAttrs{b: long, plain: true}).stored(); !bytes.Equal(got, pl) {
		t.Errorf("a version 1 list is not packed when written back")
	}
	huge := []byte{attrsS2, 0xff, 0xff, 0xff, 0xff, 0x0f, 0} // says 4 GiB
	for _, bad := range [][]byte{nil, {9, 1, 2}, {attrsS2, 0xff, 0xff, 0xff}, pl[:len(pl)-1], huge} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := (packedAttrs{b: bad}).list(nil); !errors.Is(err, errCorrupt) {
			t.Errorf("packed %q unpacked with error %v, want errCorrupt", bad, err)
		}
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 256<<20 { // not the 4 GiB it claims
			t.Errorf("packed %q: %d bytes allocated to find it corrupt", bad, n)
		}
	}

	// Version 1 records: the attrs field (the record's last) is the list.
	v1 := func(rec, packed, list []byte) []byte {
		field := binary.AppendUvarint(nil, uint64(len(packed)))
		field = append(field, packed...)
		if !bytes.HasSuffix(rec, field) || rec[0] != recordPacked {
			t.Fatalf("record does not end with its packed attrs")
		}
		out := append([]byte{recordVersion}, rec[1:len(rec)-len(field)]...)
		out = binary.AppendUvarint(out, uint64(len(list)))
		return append(out, list...)
	}
	r, err := decodeInst([]byte(in.SOPInstanceUID), v1(encodeInst(in, true, -7, appendAttrs(nil, in.Instance)), pl, long))
	if err != nil || r.ObjectKey != in.ObjectKey || !r.attrs.plain || !bytes.Equal(r.attrs.b, long) {
		t.Errorf("version 1 instance: %+v, %v", r, err)
	}
	st := studyRec{NInst: 1, Attrs: packedAttrs{b: pl}, decoded: true}
	old := v1(st.encode(), pl, long)
	got, err := decodeStudy(old, true)
	if l, _ := got.Attrs.list(nil); err != nil || got.NInst != 1 || !bytes.Equal(l, long) {
		t.Errorf("version 1 study: %+v, %v", got, err)
	}
	if re := got.encode(); re[0] != recordPacked || !bytes.Equal(re, st.encode()) {
		t.Errorf("version 1 study re-encoded as %q", re)
	}
	se := seriesRec{Modality: "CT", NInst: 2, Attrs: packedAttrs{b: pl}}
	if got, err := decodeSeries(v1(se.encode(), pl, long)); err != nil || got.NInst != 2 || !got.Attrs.plain {
		t.Errorf("version 1 series: %+v, %v", got, err)
	}
	pr := patientRec{NStudies: 3, Attrs: packedAttrs{b: pl}}
	if got, err := decodePatient(v1(pr.encode(), pl, long)); err != nil || got.NStudies != 3 || !got.Attrs.plain {
		t.Errorf("version 1 patient: %+v, %v", got, err)
	}
}

func TestOrderBytes(t *testing.T) {
	vals := []struct {
		has bool
		n   int64
	}{{true, -5}, {true, 0}, {true, 2}, {true, 10}, {true, 1 << 40}, {false, 0}}
	for i := 1; i < len(vals); i++ {
		a := orderBytes(vals[i-1].has, vals[i-1].n)
		b := orderBytes(vals[i].has, vals[i].n)
		if bytes.Compare(a[:], b[:]) >= 0 {
			t.Errorf("order(%v) >= order(%v)", vals[i-1], vals[i])
		}
	}
	ss := []seriesEntry{
		{uid: "9", rec: seriesRec{}}, {uid: "3", rec: seriesRec{HasNumber: true, Number: 10}},
		{uid: "2", rec: seriesRec{HasNumber: true, Number: 2}}, {uid: "1", rec: seriesRec{}},
		{uid: "4", rec: seriesRec{HasNumber: true, Number: 2}},
	}
	slices.SortFunc(ss, cmpSeries)
	var got []string
	for _, s := range ss {
		got = append(got, s.uid)
	}
	if want := []string{"2", "4", "3", "1", "9"}; !slices.Equal(got, want) {
		t.Errorf("series order %v, want %v", got, want)
	}
}
