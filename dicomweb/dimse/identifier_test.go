package dimse

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/query"
	"github.com/minipacs/minipacs/dicomweb/dicom/charset"
	"github.com/minipacs/minipacs/dicomweb/dicom/dicomjson"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/testkit/exectest"
	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"
	"github.com/minipacs/minipacs/index"
)

// dsElem is one element of a test identifier. A SQ element's items are
// written with undefined lengths unless definedLength.
type dsElem struct {
	tag           uint32
	vr            string
	value         []byte
	items         [][]dsElem
	definedLength bool
}

func str(tag uint32, vr, v string) dsElem { return dsElem{tag: tag, vr: vr, value: []byte(v)} }

// encodeDataSet writes a bare data set the way a C-FIND SCU sends its
// identifier: elements in the given order, strings padded to even length.
func encodeDataSet(explicit bool, els []dsElem) []byte {
	le := binary.LittleEndian
	var b []byte
	header := func(tag uint32, vr string, n uint32) {
		b = le.AppendUint16(b, uint16(tag>>16))
		b = le.AppendUint16(b, uint16(tag))
		switch {
		case !explicit || tag>>16 == 0xFFFE:
			b = le.AppendUint32(b, n)
		case longLengthVR(vr):
			b = append(b, vr[0], vr[1], 0, 0)
			b = le.AppendUint32(b, n)
		default:
			b = append(b, vr[0], vr[1])
			b = le.AppendUint16(b, uint16(n))
		}
	}
	for _, e := range els {
		if e.vr == "SQ" {
			if e.definedLength {
				var body []byte
				for _, it := range e.items {
					ib := encodeDataSet(explicit, it)
					body = le.AppendUint16(le.AppendUint16(body, 0xFFFE), 0xE000)
					body = append(le.AppendUint32(body, uint32(len(ib))), ib...)
				}
				header(e.tag, "SQ", uint32(len(body)))
				b = append(b, body...)
				continue
			}
			header(e.tag, "SQ", 0xFFFFFFFF)
			for _, it := range e.items {
				header(0xFFFEE000, "", 0xFFFFFFFF)
				b = append(b, encodeDataSet(explicit, it)...)
				header(0xFFFEE00D, "", 0)
			}
			header(0xFFFEE0DD, "", 0)
			continue
		}
		v := e.value
		if len(v)%2 == 1 {
			pad := byte(' ')
			if e.vr == "UI" {
				pad = 0
			}
			v = append(slices.Clip(v), pad)
		}
		header(e.tag, e.vr, uint32(len(v)))
		b = append(b, v...)
	}
	return b
}

var syntaxes = []struct{ name, uid string }{
	{"implicit", part10.ImplicitVRLittleEndian},
	{"explicit", part10.ExplicitVRLittleEndian},
}

func TestDecodeIdentifier(t *testing.T) {
	tests := []struct {
		name    string
		els     []dsElem
		level   string
		charset []string
		keys    []query.Key
		// filters are those query.FromKeys makes of the keys at qlevel.
		qlevel  index.Level
		filters []index.Filter
	}{
		{name: "findscu study query, ISO_IR 100",
			els: []dsElem{
				str(0x00080005, "CS", "ISO_IR 100"),
				str(0x00080020, "DA", "20240101-20240131"),
				str(0x00080052, "CS", "STUDY"),
				str(0x00080061, "CS", `CT\MR`),
				{tag: 0x00081032, vr: "SQ", items: [][]dsElem{{str(0x00080100, "SH", ""), str(0x00080104, "LO", "")}}},
				str(0x00100010, "PN", "M\xfcller^J\xfcrgen"),
				str(0x00100020, "LO", ""),
				str(0x0020000D, "UI", ""),
			},
			level: "STUDY", charset: []string{"ISO_IR 100"},
			keys: []query.Key{
				{Tag: 0x00080020, VR: "DA", Value: "20240101-20240131"},
				{Tag: 0x00080061, VR: "CS", Value: `CT\MR`},
				{Tag: 0x00081032, VR: "SQ", Sequence: true},
				{Tag: 0x00100010, VR: "PN", Value: "Müller^Jürgen"},
				{Tag: 0x00100020, VR: "LO"},
				{Tag: 0x0020000D, VR: "UI"},
			},
			filters: []index.Filter{
				{Tag: 0x00080020, VR: "DA", Kind: index.MatchRange, Low: "20240101", High: "20240131"},
				{Tag: 0x00080061, VR: "CS", Kind: index.MatchList, Values: []string{"CT", "MR"}},
				{Tag: 0x00100010, VR: "PN", Kind: index.MatchSingle, Values: []string{"Müller^Jürgen"}},
			}},
		{name: "ISO_IR 192 series query with a defined-length sequence",
			els: []dsElem{
				str(0x00080005, "CS", "ISO_IR 192"),
				str(0x00080052, "CS", "SERIES "),
				str(0x00080060, "CS", "MR"),
				{tag: 0x00081111, vr: "SQ", definedLength: true, items: [][]dsElem{{str(0x00081150, "UI", "")}}},
				str(0x00100010, "PN", "Yamada^Tarou=山田^太郎=やまだ^たろう"),
				str(0x0020000D, "UI", `1.2.3\1.2.4`),
				str(0x0020000E, "UI", ""),
				str(0x00200011, "IS", "+3"),
			},
			level: "SERIES", charset: []string{"ISO_IR 192"}, qlevel: index.LevelSeries,
			keys: []query.Key{
				{Tag: 0x00080060, VR: "CS", Value: "MR"},
				{Tag: 0x00081111, VR: "SQ", Sequence: true},
				{Tag: 0x00100010, VR: "PN", Value: "Yamada^Tarou=山田^太郎=やまだ^たろう"},
				{Tag: 0x0020000D, VR: "UI", Value: `1.2.3\1.2.4`},
				{Tag: 0x0020000E, VR: "UI"},
				{Tag: 0x00200011, VR: "IS", Value: "3"},
			},
			filters: []index.Filter{
				{Tag: 0x00080060, VR: "CS", Kind: index.MatchSingle, Values: []string{"MR"}},
				{Tag: 0x00100010, VR: "PN", Kind: index.MatchSingle, Values: []string{"Yamada^Tarou=山田^太郎=やまだ^たろう"}},
				{Tag: 0x0020000D, VR: "UI", Kind: index.MatchList, Values: []string{"1.2.3", "1.2.4"}},
				{Tag: 0x00200011, VR: "IS", Kind: index.MatchSingle, Values: []string{"3"}},
			}},
		{name: "image query without a character set, binary key",
			els: []dsElem{
				str(0x00080018, "UI", "1.2.3.4.5"),
				str(0x00080052, "CS", "IMAGE"),
				{tag: 0x00280010, vr: "US", value: []byte{0x00, 0x02}},
				str(0x00100010, "PN", "Doe^J*"),
			},
			level: "IMAGE", qlevel: index.LevelInstance,
			keys: []query.Key{
				{Tag: 0x00080018, VR: "UI", Value: "1.2.3.4.5"},
				{Tag: 0x00280010, VR: "US", Value: "512"},
				{Tag: 0x00100010, VR: "PN", Value: "Doe^J*"},
			},
			filters: []index.Filter{
				{Tag: 0x00080018, VR: "UI", Kind: index.MatchSingle, Values: []string{"1.2.3.4.5"}},
				{Tag: 0x00280010, VR: "US", Kind: index.MatchSingle, Values: []string{"512"}},
				{Tag: 0x00100010, VR: "PN", Kind: index.MatchWildcard, Values: []string{"Doe^J*"}},
			}},
	}
	for _, tc := range tests {
		for _, ts := range syntaxes {
			t.Run(tc.name+"/"+ts.name, func(t *testing.T) {
				id, err := decodeIdentifier(encodeDataSet(ts.uid == part10.ExplicitVRLittleEndian, tc.els), ts.uid)
				if err != nil {
					t.Fatal(err)
				}
				if id.level != tc.level || !reflect.DeepEqual(id.charset, tc.charset) {
					t.Errorf("level %q charset %q, want %q %q", id.level, id.charset, tc.level, tc.charset)
				}
				if !reflect.DeepEqual(id.keys, tc.keys) {
					t.Errorf("keys\n got %+v\nwant %+v", id.keys, tc.keys)
				}
				r, err := query.FromKeys(tc.qlevel, id.keys, query.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(r.Query.Filters, tc.filters) {
					t.Errorf("filters\n got %+v\nwant %+v", r.Query.Filters, tc.filters)
				}
			})
		}
	}
}

func TestDecodeIdentifierSequenceMatching(t *testing.T) {
	els := []dsElem{
		str(0x00080052, "CS", "STUDY"),
		{tag: 0x00081032, vr: "SQ", items: [][]dsElem{{str(0x00080100, "SH", "T-1234"), str(0x00080102, "SH", "")}}},
	}
	for _, ts := range syntaxes {
		id, err := decodeIdentifier(encodeDataSet(ts.uid == part10.ExplicitVRLittleEndian, els), ts.uid)
		if err != nil {
			t.Fatal(err)
		}
		if len(id.keys) != 1 || !id.keys[0].Sequence || id.keys[0].Value == "" {
			t.Fatalf("%s: keys %+v, want one sequence key with a value", ts.name, id.keys)
		}
		_, err = query.FromKeys(index.LevelStudy, id.keys, query.Options{})
		var qe *query.Error
		if !errors.As(err, &qe) || !strings.Contains(qe.Msg, "sequence") {
			t.Errorf("%s: FromKeys error %v, want sequence matching refused", ts.name, err)
		}
	}
}

func TestDecodeIdentifierErrors(t *testing.T) {
	good := encodeDataSet(true, []dsElem{str(0x00080052, "CS", "STUDY"), str(0x00100010, "PN", "Doe")})
	tests := []struct {
		name string
		b    []byte
		ts   string
	}{
		{"too large", make([]byte, maxIdentifierBytes+2), part10.ImplicitVRLittleEndian},
		{"big endian", good, part10.ExplicitVRBigEndian},
		{"JPEG", good, "1.2.840.10008.1.2.4.50"},
		{"truncated value", good[:len(good)-2], part10.ExplicitVRLittleEndian},
		{"length beyond the end", append(slices.Clone(good), 0x10, 0x00, 0x20, 0x00, 'L', 'O', 0xFF, 0x00), part10.ExplicitVRLittleEndian},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeIdentifier(tc.b, tc.ts); !errors.Is(err, errIdentifier) {
				t.Errorf("err = %v, want errIdentifier", err)
			}
		})
	}
}

// resultFromFile builds the index result of a real file as ingest does
// (attributes split by query.LevelOf, values from dicomjson.Values,
// private and bulk attributes left out) and the fields that ask for all
// of them.
func resultFromFile(t *testing.T, rel string) (*index.Result, []query.Field) {
	t.Helper()
	b := testcorpus.File(t, rel)
	f, err := part10.Parse(context.Background(), bytes.NewReader(b), int64(len(b)), part10.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := charset.New(f.CharacterSet)
	res := &index.Result{}
	var fields []query.Field
	for _, e := range f.DataSet.Elements {
		g := e.Tag.Group()
		if e.Tag.Element() == 0 || g == 0x0002 || g == 0xFFFE || g == 0x7FE0 || g&1 == 1 || e.Bulk ||
			e.Tag == part10.TagSpecificCharacterSet {
			continue
		}
		a := index.Attr{Tag: uint32(e.Tag), VR: e.VR}
		if e.VR != "SQ" {
			a.Values = dicomjson.Values(f, dec, e)
		}
		switch query.LevelOf(a.Tag) {
		case index.LevelStudy:
			res.Study = append(res.Study, a)
		case index.LevelSeries:
			res.Series = append(res.Series, a)
		default:
			res.Instance = append(res.Instance, a)
		}
		fields = append(fields, query.Field{Tag: a.Tag, VR: a.VR})
	}
	slices.SortFunc(fields, func(a, b query.Field) int { return cmp.Compare(a.Tag, b.Tag) })
	return res, fields
}

// parseAnswer reads an encoded answer back with part10.
func parseAnswer(t *testing.T, b []byte, ts string) *part10.File {
	t.Helper()
	obj := append(part10.FileMeta("1.2.840.10008.5.1.4.1.2.2.1", "1.2.3", ts, ImplementationClassUID, ImplementationVersionName), b...)
	f, err := part10.Parse(context.Background(), bytes.NewReader(obj), int64(len(obj)), part10.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Warnings) > 0 {
		t.Errorf("answer parsed with warnings: %q", f.Warnings)
	}
	return f
}

func TestEncodeMatchRoundTrip(t *testing.T) {
	tests := []struct {
		file    string
		req     []string
		charset []string // of the answer
		raw     string   // bytes the answer must hold
	}{
		{file: "test_files/CT_small.dcm", req: nil, charset: nil},
		{file: "test_files/MR_small.dcm", req: []string{"ISO_IR 100"}, charset: []string{"ISO_IR 100"}},
		{file: "charset_files/chrGerm.dcm", req: []string{"ISO_IR 100"}, charset: []string{"ISO_IR 100"}, raw: "\xc4neas^R\xfcdiger"},
		{file: "charset_files/chrGerm.dcm", req: nil, charset: []string{"ISO_IR 192"}, raw: "Äneas^Rüdiger"},
		{file: "charset_files/chrFrenMulti.dcm", req: []string{"ISO_IR 100"}, charset: []string{"ISO_IR 100"}, raw: "Buc^J\xe9r\xf4me"},
		{file: "charset_files/chrH31.dcm", req: []string{"", "ISO 2022 IR 87"}, charset: []string{"ISO_IR 192"}, raw: "Yamada^Tarou=山田^太郎"},
		{file: "charset_files/chrX1.dcm", req: []string{"ISO_IR 100"}, charset: []string{"ISO_IR 192"}, raw: "Wang^XiaoDong=王^小東"},
		{file: "charset_files/chrRuss.dcm", req: []string{"ISO_IR 144"}, charset: []string{"ISO_IR 192"}},
	}
	for _, tc := range tests {
		res, fields := resultFromFile(t, tc.file)
		for _, ts := range syntaxes {
			t.Run(filepath.Base(tc.file)+"/"+ts.name, func(t *testing.T) {
				b, err := encodeMatch(res, index.LevelInstance, "IMAGE", fields, tc.req, ts.uid, "MINIPACS")
				if err != nil {
					t.Fatal(err)
				}
				if tc.raw != "" && !bytes.Contains(b, []byte(tc.raw)) {
					t.Errorf("answer does not hold %q", tc.raw)
				}
				f := parseAnswer(t, b, ts.uid)
				if !reflect.DeepEqual(f.CharacterSet, tc.charset) {
					t.Errorf("SpecificCharacterSet %q, want %q", f.CharacterSet, tc.charset)
				}
				if got := f.DataSet.String(0x00080052); got != "IMAGE" {
					t.Errorf("QueryRetrieveLevel %q", got)
				}
				if got := f.DataSet.String(0x00080054); got != "MINIPACS" {
					t.Errorf("RetrieveAETitle %q", got)
				}
				if want := len(fields) + 2 + min(len(tc.charset), 1); len(f.DataSet.Elements) != want {
					t.Errorf("%d elements, want %d", len(f.DataSet.Elements), want)
				}
				dec, _ := charset.New(f.CharacterSet)
				compared := 0
				for _, l := range []index.Level{index.LevelStudy, index.LevelSeries, index.LevelInstance} {
					for _, a := range res.Attrs(l) {
						e := f.DataSet.Find(part10.Tag(a.Tag))
						switch {
						case e == nil:
							t.Errorf("%08X missing", a.Tag)
							continue
						case a.VR == "SQ":
							if len(e.Value) != 0 || len(e.Items) != 0 {
								t.Errorf("%08X: sequence not zero-length", a.Tag)
							}
							continue
						case e.VR != a.VR:
							// Implicit VR: the dictionary VR of a multi-VR or
							// mis-encoded attribute; nothing to compare.
							if ts.uid == part10.ExplicitVRLittleEndian {
								t.Errorf("%08X: VR %s, want %s", a.Tag, e.VR, a.VR)
							}
							continue
						}
						got, wantVals := dicomjson.Values(f, dec, e), a.Values
						if len(wantVals) == 1 && wantVals[0] == "" {
							// One empty value ("^^^^" of a PN) is a zero-length element.
							wantVals = nil
						}
						if len(got) == 0 && len(wantVals) == 0 {
							continue
						}
						compared++
						if !reflect.DeepEqual(got, wantVals) {
							t.Errorf("%08X %s: %q, want %q", a.Tag, a.VR, got, wantVals)
						}
					}
				}
				if compared < 10 {
					t.Errorf("only %d attributes compared", compared)
				}
			})
		}
	}
}

func TestEncodeMatchValues(t *testing.T) {
	long := strings.Repeat("x", 0x10001)
	res := &index.Result{
		Study: []index.Attr{
			{Tag: 0x00081032, VR: "SQ", JSON: []byte(`{"vr":"SQ","Value":[{}]}`)},
			{Tag: 0x00100010, VR: "PN", Values: []string{"Doe^John", "Roe^Jane"}},
			{Tag: 0x00104000, VR: "LT", Values: []string{`a\b`}},
			{Tag: 0x0020000D, VR: "UI", Values: []string{"1.2.3"}},
		},
		Series: []index.Attr{
			{Tag: 0x0008103E, VR: "LO", Values: []string{long}},
			{Tag: 0x0020000E, VR: "UI", Values: []string{"1.2.3.4"}},
		},
		Instance: []index.Attr{
			{Tag: 0x00080018, VR: "UI", Values: []string{"1.2.3.4.5"}},
			{Tag: 0x00180088, VR: "DS", Values: []string{"0.5"}},
			{Tag: 0x00181310, VR: "US", Values: []string{"0", "256", "256", "0"}},
			{Tag: 0x00186020, VR: "SL", Values: []string{"-3"}},
			{Tag: 0x00186030, VR: "UL", Values: []string{"5000000"}},
			{Tag: 0x00189087, VR: "FD", Values: []string{"1000.5"}},
			{Tag: 0x00189089, VR: "FD", Values: []string{"NaN", "-Infinity", "1e-300"}},
			{Tag: 0x00189219, VR: "FL", Values: []string{"0.25"}},
			{Tag: 0x00209165, VR: "AT", Values: []string{"00209056", "0020000E"}},
			{Tag: 0x00280010, VR: "US", Values: []string{"512"}},
			{Tag: 0x00280011, VR: "US", Values: []string{"abc"}},
			{Tag: 0x00280106, VR: "SS", Values: []string{"-32768"}},
			{Tag: 0x00280107, VR: "SS", Values: []string{"40000"}},
			{Tag: 0x00400000 | 0x9212, VR: "FD", Values: []string{"1.5", "x"}},
			{Tag: 0x00420011, VR: "UT", Values: []string{long}},
			{Tag: 0x00720069, VR: "SV", Values: []string{"-9007199254740993"}},
			{Tag: 0x0072006A, VR: "UV", Values: []string{"18446744073709551615"}},
		},
	}
	var fields []query.Field
	for _, l := range []index.Level{index.LevelStudy, index.LevelSeries, index.LevelInstance} {
		for _, a := range res.Attrs(l) {
			fields = append(fields, query.Field{Tag: a.Tag, VR: a.VR})
		}
	}
	fields = append(fields,
		query.Field{Tag: 0x00080054, VR: "AE"}, // asked, no aet: zero-length
		query.Field{Tag: 0x00080056, VR: "CS"}, // InstanceAvailability: ONLINE
		query.Field{Tag: 0x00100030, VR: "DA"}, // the match lacks it
		query.Field{Tag: 0x00400275, VR: "SQ"}, // a sequence the match lacks
		query.Field{Tag: 0x00091010, VR: ""},   // unknown private: UN
		query.Field{Tag: 0x00080156, VR: ""},   // unknown public: UN
		query.Field{Tag: 0x7FE00010, VR: "OW"}, // binary, no value
		query.Field{Tag: 0x00080005, VR: "CS"}, // the answer's own
		query.Field{Tag: 0x00080052, VR: "CS"}, // the answer's own
		query.Field{Tag: 0x00020010, VR: "UI"}, // not a data set attribute
	)
	slices.SortFunc(fields, func(a, b query.Field) int { return cmp.Compare(a.Tag, b.Tag) })
	fields = slices.CompactFunc(fields, func(a, b query.Field) bool { return a.Tag == b.Tag })

	b, err := encodeMatch(res, index.LevelInstance, "IMAGE", fields, nil, part10.ExplicitVRLittleEndian, "")
	if err != nil {
		t.Fatal(err)
	}
	f := parseAnswer(t, b, part10.ExplicitVRLittleEndian)
	for i := 1; i < len(f.DataSet.Elements); i++ {
		if f.DataSet.Elements[i-1].Tag >= f.DataSet.Elements[i].Tag {
			t.Fatalf("elements out of order at %v", f.DataSet.Elements[i].Tag)
		}
	}
	if f.DataSet.Find(0x00080005) != nil || f.DataSet.Find(0x00020010) != nil {
		t.Error("an ASCII answer to a request without character set has SpecificCharacterSet, or a meta element")
	}
	want := map[uint32]struct {
		vr   string
		vals []string // nil: zero-length
	}{
		0x00080054: {"AE", nil},
		0x00080056: {"CS", []string{"ONLINE"}},
		0x00080052: {"CS", []string{"IMAGE"}},
		0x00081032: {"SQ", nil},
		0x00400275: {"SQ", nil},
		0x00100010: {"PN", []string{"Doe^John", "Roe^Jane"}},
		0x00104000: {"LT", []string{`a\b`}},
		0x0020000D: {"UI", []string{"1.2.3"}},
		0x0008103E: {"LO", nil}, // too long for a 2-byte length
		0x00420011: {"UT", []string{long}},
		0x00180088: {"DS", []string{"0.5"}},
		0x00181310: {"US", []string{"0", "256", "256", "0"}},
		0x00186020: {"SL", []string{"-3"}},
		0x00186030: {"UL", []string{"5000000"}},
		0x00189087: {"FD", []string{"1000.5"}},
		0x00189089: {"FD", []string{"NaN", "-Infinity", "1e-300"}},
		0x00189219: {"FL", []string{"0.25"}},
		0x00209165: {"AT", []string{"00209056", "0020000E"}},
		0x00280010: {"US", []string{"512"}},
		0x00280011: {"US", nil}, // bad text
		0x00280106: {"SS", []string{"-32768"}},
		0x00280107: {"SS", nil}, // out of range
		0x00409212: {"FD", nil}, // one bad value
		0x00720069: {"SV", []string{"-9007199254740993"}},
		0x0072006A: {"UV", []string{"18446744073709551615"}},
		0x00100030: {"DA", nil},
		0x00091010: {"UN", nil},
		0x00080156: {"UN", nil},
		0x7FE00010: {"OW", nil},
	}
	dec := charset.Default()
	for tag, w := range want {
		e := f.DataSet.Find(part10.Tag(tag))
		if e == nil {
			t.Errorf("%08X missing", tag)
			continue
		}
		if e.VR != w.vr {
			t.Errorf("%08X: VR %s, want %s", tag, e.VR, w.vr)
		}
		if got := dicomjson.Values(f, dec, e); !reflect.DeepEqual(got, w.vals) {
			t.Errorf("%08X: %q, want %q", tag, got, w.vals)
		}
		if w.vals == nil && (len(e.Value) != 0 || len(e.Items) != 0) {
			t.Errorf("%08X: %d bytes, want zero-length", tag, len(e.Value))
		}
	}
	if n := len(f.DataSet.Elements); n != len(fields)-2 { // without 0002,0010 and 0008,0005
		t.Errorf("%d elements for %d fields", n, len(fields))
	}
	// Padding: an odd UID with NUL, an odd string with a space.
	if !bytes.Contains(b, []byte("1.2.3\x00")) || !bytes.Contains(b, []byte("Roe^Jane ")) {
		t.Error("odd values not padded with NUL (UI) and space")
	}

	// Implicit VR: every element with a 4-byte length and no VR.
	ib, err := encodeMatch(res, index.LevelInstance, "IMAGE", fields, nil, part10.ImplicitVRLittleEndian, "AE1")
	if err != nil {
		t.Fatal(err)
	}
	fi := parseAnswer(t, ib, part10.ImplicitVRLittleEndian)
	if got := fi.DataSet.String(0x00080054); got != "AE1" {
		t.Errorf("implicit RetrieveAETitle %q", got)
	}
	if e := fi.DataSet.Find(0x0008103E); e == nil || dicomjson.Values(fi, dec, e)[0] != long {
		t.Error("implicit VR: a long LO value lost (its 4-byte length holds it)")
	}

	if _, err := encodeMatch(res, index.LevelInstance, "IMAGE", fields, nil, part10.ExplicitVRBigEndian, ""); err == nil {
		t.Error("big endian answer accepted")
	}
}

// TestEncodeMatchLevels: only the levels up to the query level are read.
func TestEncodeMatchLevels(t *testing.T) {
	res := &index.Result{
		Study:    []index.Attr{{Tag: 0x00080020, VR: "DA", Values: []string{"20240101"}}, {Tag: 0x00080201, VR: "SH", Values: []string{"+0100"}}},
		Series:   []index.Attr{{Tag: 0x00080060, VR: "CS", Values: []string{"CT"}}, {Tag: 0x00080201, VR: "SH", Values: []string{"+0200"}}},
		Instance: []index.Attr{{Tag: 0x00080018, VR: "UI", Values: []string{"1.2.3"}}, {Tag: 0x00080201, VR: "SH", Values: []string{"+0300"}}},
	}
	fields := []query.Field{{Tag: 0x00080018, VR: "UI"}, {Tag: 0x00080020, VR: "DA"}, {Tag: 0x00080060, VR: "CS"}, {Tag: 0x00080201, VR: "SH"}}
	b, err := encodeMatch(res, index.LevelSeries, "SERIES", fields, nil, part10.ExplicitVRLittleEndian, "")
	if err != nil {
		t.Fatal(err)
	}
	f := parseAnswer(t, b, part10.ExplicitVRLittleEndian)
	for tag, want := range map[part10.Tag]string{0x00080018: "", 0x00080020: "20240101", 0x00080060: "CT", 0x00080201: "+0200", 0x00080052: "SERIES"} {
		if got := f.DataSet.String(tag); got != want {
			t.Errorf("%v = %q, want %q", tag, got, want)
		}
	}
}

func TestMatchCharset(t *testing.T) {
	pn := func(v ...string) []answerElement { return []answerElement{{tag: 0x00100010, vr: "PN", vals: v}} }
	tests := []struct {
		name   string
		els    []answerElement
		req    []string
		want   []string
		latin1 bool
	}{
		{"ASCII, none asked", pn("Doe^John"), nil, nil, false},
		{"ASCII echoes the request", pn("Doe^John"), []string{"ISO_IR 100"}, []string{"ISO_IR 100"}, false},
		{"ASCII echoes ISO 2022", pn("Doe^John"), []string{"", "ISO 2022 IR 87"}, []string{"", "ISO 2022 IR 87"}, false},
		{"Latin-1 asked", pn("Müller^Jürgen"), []string{"ISO_IR 100"}, []string{"ISO_IR 100"}, true},
		{"Latin-1 asked with code extensions", pn("Buc^Jérôme"), []string{"ISO 2022 IR 100"}, []string{"ISO_IR 100"}, true},
		{"Latin-1 not asked", pn("Müller^Jürgen"), nil, []string{"ISO_IR 192"}, false},
		{"Latin-1 and UTF-8 asked", pn("Müller^Jürgen"), []string{"ISO_IR 192"}, []string{"ISO_IR 192"}, false},
		{"beyond Latin-1", pn("Wang^XiaoDong=王^小東"), []string{"ISO_IR 100"}, []string{"ISO_IR 192"}, false},
		{"Cyrillic asked", pn("Люкceмбypг"), []string{"ISO_IR 144"}, []string{"ISO_IR 192"}, false},
		{"euro sign is not Latin-1", []answerElement{{tag: 0x00081030, vr: "LO", vals: []string{"5 €"}}}, []string{"ISO_IR 100"}, []string{"ISO_IR 192"}, false},
		{"unaffected VRs do not count", []answerElement{{tag: 0x00080060, vr: "CS", vals: []string{"Ü"}}}, nil, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, latin1 := answerCharset(tc.els, tc.req)
			if !reflect.DeepEqual(got, tc.want) || latin1 != tc.latin1 {
				t.Errorf("got %q latin1 %v, want %q %v", got, latin1, tc.want, tc.latin1)
			}
		})
	}
}

// TestEncodeMatchDcmdump: DCMTK reads an answer (with a file meta)
// without complaint, with the character set chosen, and (with +U8, when
// DCMTK has a character set library) decodes the name.
func TestEncodeMatchDcmdump(t *testing.T) {
	dcmdump := exectest.LookTool(t, "dcmdump")
	dump := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, dcmdump, args...).CombinedOutput()
		return string(out), err
	}
	res, fields := resultFromFile(t, "charset_files/chrGerm.dcm")
	for _, ts := range syntaxes {
		for _, tc := range []struct {
			req     []string
			charset string
		}{{[]string{"ISO_IR 100"}, "ISO_IR 100"}, {nil, "ISO_IR 192"}} {
			name := ts.name + " " + tc.charset
			b, err := encodeMatch(res, index.LevelInstance, "IMAGE", fields, tc.req, ts.uid, "MINIPACS")
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "answer.dcm")
			obj := append(part10.FileMeta("1.2.840.10008.5.1.4.1.2.2.1", "1.2.3", ts.uid, ImplementationClassUID, ImplementationVersionName), b...)
			if err := os.WriteFile(path, obj, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := dump(path)
			if err != nil {
				t.Fatalf("%s: dcmdump: %v\n%s", name, err, s)
			}
			for _, line := range strings.Split(s, "\n") {
				if strings.HasPrefix(line, "E:") || strings.HasPrefix(line, "W:") {
					t.Errorf("%s: dcmdump: %s", name, line)
				}
			}
			for _, want := range []string{"(0008,0005) CS [" + tc.charset + "]", "(0008,0052) CS [IMAGE]",
				"(0008,0054) AE [MINIPACS]", "(0010,0020) LO [SCSGERM]", "(0008,0020) DA (no value available)"} {
				if !strings.Contains(s, want) {
					t.Errorf("%s: dcmdump output lacks %q:\n%s", name, want, s)
				}
			}
			if s, err := dump("+U8", path); err != nil {
				t.Logf("dcmdump +U8 (no character set support?): %v", err)
			} else if !strings.Contains(s, "(0010,0010) PN [Äneas^Rüdiger]") {
				t.Errorf("%s: dcmdump +U8 does not decode the name:\n%s", name, s)
			}
		}
	}
}

// TestDecodeIdentifierDump2dcm decodes identifiers written by DCMTK (the
// data set writer findscu uses for its query files), in both transfer
// syntaxes, with defined and undefined sequence lengths and with group
// lengths.
func TestDecodeIdentifierDump2dcm(t *testing.T) {
	dump2dcm := exectest.LookTool(t, "dump2dcm")
	dump := "(0008,0005) CS [ISO_IR 100]\n" +
		"(0008,0020) DA [20240101-20240131]\n" +
		"(0008,0052) CS [STUDY]\n" +
		"(0008,0061) CS [CT\\MR]\n" +
		"(0008,1032) SQ (Sequence with undefined length)\n" +
		"(fffe,e000) na (Item with undefined length)\n" +
		"(0008,0100) SH []\n" +
		"(fffe,e00d) na (ItemDelimitationItem)\n" +
		"(fffe,e0dd) na (SequenceDelimitationItem)\n" +
		"(0010,0010) PN [M\xfcller^J\xfcrgen]\n" +
		"(0010,0020) LO []\n" +
		"(0020,000d) UI []\n"
	want := []query.Key{
		{Tag: 0x00080020, VR: "DA", Value: "20240101-20240131"},
		{Tag: 0x00080061, VR: "CS", Value: `CT\MR`},
		{Tag: 0x00081032, VR: "SQ", Sequence: true},
		{Tag: 0x00100010, VR: "PN", Value: "Müller^Jürgen"},
		{Tag: 0x00100020, VR: "LO"},
		{Tag: 0x0020000D, VR: "UI"},
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "query.dump")
	if err := os.WriteFile(in, []byte(dump), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ts := range syntaxes {
		for _, opts := range [][]string{{"+e"}, {"-e"}, {"+g", "-e"}} {
			tsOpt := "+te"
			if ts.uid == part10.ImplicitVRLittleEndian {
				tsOpt = "+ti"
			}
			out := filepath.Join(dir, "query.dcm")
			args := append([]string{"-F", tsOpt}, opts...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			msg, err := exec.CommandContext(ctx, dump2dcm, append(args, in, out)...).CombinedOutput()
			cancel()
			if err != nil {
				t.Fatalf("dump2dcm %v: %v\n%s", args, err, msg)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			id, err := decodeIdentifier(b, ts.uid)
			if err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			if id.level != "STUDY" || !reflect.DeepEqual(id.charset, []string{"ISO_IR 100"}) {
				t.Errorf("%v: level %q charset %q", args, id.level, id.charset)
			}
			if !reflect.DeepEqual(id.keys, want) {
				t.Errorf("%v: keys\n got %+v\nwant %+v", args, id.keys, want)
			}
		}
	}
}
