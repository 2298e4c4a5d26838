package index

import (
	"bytes"
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
	inst := encodeInst(in, true, -7)
	r, err := decodeInst([]byte(in.SOPInstanceUID), inst)
	if err != nil {
		t.Fatal(err)
	}
	if r.ObjectKey != in.ObjectKey || r.Size != in.Size || r.Number != -7 || !r.HasNumber || r.Stored != in.Stored.UnixNano() ||
		!bytes.Equal(r.layoutView, in.Layout) || r.SOPClassUID != in.SOPClassUID {
		t.Errorf("decodeInst = %+v", r)
	}
	attrs, err := new(arena).copyAttrs(r.Attrs, nil)
	if err != nil || len(attrs) != 2 || !slices.Equal(attrs[0].Values, in.Instance[0].Values) ||
		string(attrs[1].JSON) != string(in.Instance[1].JSON) {
		t.Errorf("copyAttrs = %+v, %v", attrs, err)
	}
	st := studyRec{PatientID: []byte("P"), Issuer: []byte("I"), Demo: []byte("d"), NSeries: 2, NInst: 5,
		Modalities: []counted{{"CT", 1}, {"MR", 1}}, SOPClasses: []counted{{"1.2", 5}}, Attrs: appendAttrs(nil, in.Instance), decoded: true}
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
		"attrs": {st.Attrs, func(b []byte) error {
			a, err := new(arena).copyAttrs(b, nil)
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
