package dicomjson

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/charset"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

func bulkURI(p string) string { return "bulk/" + p }

func el(tag part10.Tag, vr string, value string) *part10.Element {
	return &part10.Element{Tag: tag, VR: vr, Length: uint32(len(value)), Value: []byte(value)}
}

func le16(v ...uint16) string {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, x)
	}
	return string(b)
}

func be16(v ...uint16) string {
	var b []byte
	for _, x := range v {
		b = binary.BigEndian.AppendUint16(b, x)
	}
	return string(b)
}

func le32(v ...uint32) string {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, x)
	}
	return string(b)
}

func le64(v ...uint64) string {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, x)
	}
	return string(b)
}

func bigEndian(e *part10.Element) *part10.Element { e.BigEndian = true; return e }

func TestEncodeElement(t *testing.T) {
	const tag = part10.Tag(0x00091001)
	withBulk := Options{BulkURI: bulkURI}
	tests := []struct {
		name string
		el   *part10.Element
		opt  Options
		scs  []string
		want string
	}{
		// Strings.
		{"CS multi", el(tag, "CS", `ORIGINAL\PRIMARY `), Options{}, nil, `{"vr":"CS","Value":["ORIGINAL","PRIMARY"]}`},
		{"empty middle is null", el(tag, "LO", `A\\B`), Options{}, nil, `{"vr":"LO","Value":["A",null,"B"]}`},
		{"all empty values", el(tag, "CS", `\`), Options{}, nil, `{"vr":"CS","Value":[null,null]}`},
		{"empty", el(tag, "LO", ""), Options{}, nil, `{"vr":"LO"}`},
		{"only padding", el(tag, "SH", "  "), Options{}, nil, `{"vr":"SH"}`},
		{"leading spaces trimmed", el(tag, "LO", "  x y  "), Options{}, nil, `{"vr":"LO","Value":["x y"]}`},
		{"LT keeps leading spaces and backslash", el(tag, "LT", "  a\\b  "), Options{}, nil, `{"vr":"LT","Value":["  a\\b"]}`},
		{"UT single", el(tag, "UT", `x\y`), Options{}, nil, `{"vr":"UT","Value":["x\\y"]}`},
		{"UC keeps leading spaces, multi", el(tag, "UC", ` a\ b `), Options{}, nil, `{"vr":"UC","Value":[" a"," b"]}`},
		{"UR", el(tag, "UR", "http://x/y "), Options{}, nil, `{"vr":"UR","Value":["http://x/y"]}`},
		{"UI NUL padding", el(tag, "UI", "1.2.3\x00"), Options{}, nil, `{"vr":"UI","Value":["1.2.3"]}`},
		{"UI multi", el(tag, "UI", "1.2\\1.3\x00"), Options{}, nil, `{"vr":"UI","Value":["1.2","1.3"]}`},
		{"escaping", el(tag, "LO", "a\"b\x01\tc\u2028"), Options{}, nil, `{"vr":"LO","Value":["a\"b\u0001\tc\u2028"]}`},
		{"invalid UTF-8", el(tag, "LO", "a\xff"), Options{}, []string{"ISO_IR 192"}, `{"vr":"LO","Value":["a` + "\uFFFD" + `"]}`},
		{"latin1", el(tag, "LO", "J\xe9r\xf4me"), Options{}, []string{"ISO_IR 100"}, `{"vr":"LO","Value":["Jérôme"]}`},
		{"DA", el(tag, "DA", "20240101"), Options{}, nil, `{"vr":"DA","Value":["20240101"]}`},
		// PN.
		{"PN three groups", el(tag, "PN", "Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B"),
			Options{}, []string{"", "ISO 2022 IR 87"},
			`{"vr":"PN","Value":[{"Alphabetic":"Yamada^Tarou","Ideographic":"山田^太郎","Phonetic":"やまだ^たろう"}]}`},
		{"PN empty phonetic", el(tag, "PN", "Wang^XiaoDong=\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1="), Options{}, []string{"ISO_IR 192"},
			`{"vr":"PN","Value":[{"Alphabetic":"Wang^XiaoDong","Ideographic":"王^小東"}]}`},
		{"PN ideographic only", el(tag, "PN", "=X^Y"), Options{}, nil, `{"vr":"PN","Value":[{"Ideographic":"X^Y"}]}`},
		{"PN multi with empty", el(tag, "PN", `A^B\\C`), Options{}, nil,
			`{"vr":"PN","Value":[{"Alphabetic":"A^B"},null,{"Alphabetic":"C"}]}`},
		{"PN only delimiters", el(tag, "PN", "=="), Options{}, nil, `{"vr":"PN"}`},
		{"PN carets kept", el(tag, "PN", "^^^^"), Options{}, nil, `{"vr":"PN","Value":[{"Alphabetic":"^^^^"}]}`},
		// IS and DS.
		{"IS", el(tag, "IS", `+5\007\-0\ -12 `), Options{}, nil, `{"vr":"IS","Value":[5,7,0,-12]}`},
		{"IS invalid and too large", el(tag, "IS", `1.0\9007199254740992\9007199254740991`), Options{}, nil,
			`{"vr":"IS","Value":["1.0","9007199254740992",9007199254740991]}`},
		{"DS", el(tag, "DS", `.5\+5\007\1E3\-.5\5.\+.5E+03\ 1.5 \-0.5e-02\00.0`), Options{}, nil,
			`{"vr":"DS","Value":[0.5,5,7,1e3,-0.5,5,0.5e3,1.5,-0.5e-2,0.0]}`},
		{"DS invalid", el(tag, "DS", `1e999\abc\NaN\1e\.\-`), Options{}, nil,
			`{"vr":"DS","Value":["1e999","abc","NaN","1e",".","-"]}`},
		{"DS empty middle", el(tag, "DS", `1\\2`), Options{}, nil, `{"vr":"DS","Value":[1,null,2]}`},
		// Binary numbers.
		{"US", el(tag, "US", le16(1, 65535)), Options{}, nil, `{"vr":"US","Value":[1,65535]}`},
		{"US big endian", bigEndian(el(tag, "US", be16(256, 2))), Options{}, nil, `{"vr":"US","Value":[256,2]}`},
		{"SS", el(tag, "SS", le16(0xFFFF)), Options{}, nil, `{"vr":"SS","Value":[-1]}`},
		{"UL", el(tag, "UL", le32(4294967295)), Options{}, nil, `{"vr":"UL","Value":[4294967295]}`},
		{"SL", el(tag, "SL", le32(0x80000000)), Options{}, nil, `{"vr":"SL","Value":[-2147483648]}`},
		{"FL", el(tag, "FL", le32(math.Float32bits(1.5), math.Float32bits(0.1))), Options{}, nil, `{"vr":"FL","Value":[1.5,0.1]}`},
		{"FL NaN", el(tag, "FL", le32(math.Float32bits(float32(math.NaN())))), Options{}, nil, `{"vr":"FL","Value":["NaN"]}`},
		{"FD inf", el(tag, "FD", le64(math.Float64bits(math.Inf(1)), math.Float64bits(math.Inf(-1)), math.Float64bits(1e300))),
			Options{}, nil, `{"vr":"FD","Value":["Infinity","-Infinity",1e+300]}`},
		{"SV", el(tag, "SV", le64(uint64(1<<53-1), 1<<53, uint64(0xFFFFFFFFFFFFFFFF))), Options{}, nil,
			`{"vr":"SV","Value":[9007199254740991,"9007199254740992",-1]}`},
		{"UV", el(tag, "UV", le64(1<<63)), Options{}, nil, `{"vr":"UV","Value":["9223372036854775808"]}`},
		{"US odd length", el(tag, "US", "\x01\x00\x02"), Options{}, nil, `{"vr":"US","Value":[1]}`},
		{"UL too short", el(tag, "UL", "\x01"), Options{}, nil, `{"vr":"UL"}`},
		{"AT", el(tag, "AT", le16(0x0010, 0x0010, 0x7FE0, 0x0010)), Options{}, nil, `{"vr":"AT","Value":["00100010","7FE00010"]}`},
		{"AT big endian", bigEndian(el(tag, "AT", be16(0x0028, 0x0010))), Options{}, nil, `{"vr":"AT","Value":["00280010"]}`},
		// Binary.
		{"OB inline", el(tag, "OB", "\x00\x01\x02"), withBulk, nil, `{"vr":"OB","InlineBinary":"AAEC"}`},
		{"OW big endian swapped", bigEndian(el(tag, "OW", be16(0x0102, 0x0304))), Options{}, nil, `{"vr":"OW","InlineBinary":"AgEEAw=="}`},
		{"OB big endian not swapped", bigEndian(el(tag, "OB", "\x01\x02")), Options{}, nil, `{"vr":"OB","InlineBinary":"AQI="}`},
		{"OF big endian", bigEndian(el(tag, "OF", "\x01\x02\x03\x04")), Options{}, nil, `{"vr":"OF","InlineBinary":"BAMCAQ=="}`},
		{"OD big endian", bigEndian(el(tag, "OD", "\x01\x02\x03\x04\x05\x06\x07\x08")), Options{}, nil, `{"vr":"OD","InlineBinary":"CAcGBQQDAgE="}`},
		{"OB empty", el(tag, "OB", ""), withBulk, nil, `{"vr":"OB"}`},
		{"bulk", &part10.Element{Tag: tag, VR: "OB", Length: 5000, Bulk: true}, withBulk, nil, `{"vr":"OB","BulkDataURI":"bulk/P"}`},
		{"bulk without BulkURI", &part10.Element{Tag: tag, VR: "OB", Length: 5000, Bulk: true}, Options{}, nil, `{"vr":"OB"}`},
		{"bulk text", &part10.Element{Tag: tag, VR: "UT", Length: 5000, Bulk: true}, withBulk, nil, `{"vr":"UT","BulkDataURI":"bulk/P"}`},
		{"pixel data always bulk", el(part10.TagPixelData, "OW", "\x00\x00"), withBulk, nil, `{"vr":"OW","BulkDataURI":"bulk/P"}`},
		{"pixel data inline without BulkURI", el(part10.TagPixelData, "OW", "\x00\x00"), Options{}, nil, `{"vr":"OW","InlineBinary":"AAA="}`},
		{"encapsulated", &part10.Element{Tag: part10.TagPixelData, VR: "OB", Length: part10.UndefinedLength, Bulk: true,
			Fragments: []part10.Fragment{{}, {Offset: 10, Length: 2}}}, withBulk, nil, `{"vr":"OB","BulkDataURI":"bulk/P"}`},
		{"InlineMax", el(tag, "UN", "abc"), Options{BulkURI: bulkURI, InlineMax: 2}, nil, `{"vr":"UN","BulkDataURI":"bulk/P"}`},
		{"InlineMax not reached", el(tag, "UN", "ab"), Options{BulkURI: bulkURI, InlineMax: 2}, nil, `{"vr":"UN","InlineBinary":"YWI="}`},
		{"unknown VR", el(tag, "ZZ", "ab"), Options{}, nil, `{"vr":"UN","InlineBinary":"YWI="}`},
		// Sequences.
		{"SQ no items", &part10.Element{Tag: tag, VR: "SQ"}, Options{}, nil, `{"vr":"SQ"}`},
		{"SQ empty item", &part10.Element{Tag: tag, VR: "SQ", Items: []*part10.DataSet{{}}}, Options{}, nil, `{"vr":"SQ","Value":[{}]}`},
		{"SQ nested bulk path", &part10.Element{Tag: tag, VR: "SQ", Items: []*part10.DataSet{{}, {Elements: []*part10.Element{
			{Tag: 0x00181072, VR: "OB", Length: 9000, Bulk: true}}}}}, withBulk, nil,
			`{"vr":"SQ","Value":[{},{"00181072":{"vr":"OB","BulkDataURI":"bulk/P/1/00181072"}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec, _ := charset.New(tt.scs)
			got, err := EncodeElement(nil, dec, tt.el, "P", tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("invalid JSON %s", got)
			}
		})
	}
}

func TestEncodeDataSet(t *testing.T) {
	item := &part10.DataSet{Elements: []*part10.Element{
		el(0x00080005, "CS", `ISO 2022 IR 13\ISO 2022 IR 87`),
		el(0x00100010, "PN", "\xd4\xcf\xc0\xde^\xc0\xdb\xb3=\x1b$B;3ED\x1b(J^\x1b$BB@O:\x1b(J"),
		{Tag: 0x00400100, VR: "SQ", Items: []*part10.DataSet{{Elements: []*part10.Element{
			el(0x00400001, "LO", "\xd4\xcf"), // inherits the item's character set
		}}}},
	}}
	ds := &part10.DataSet{Elements: []*part10.Element{
		el(0x00020010, "UI", "1.2.840.10008.1.2.1\x00"), // meta: left out
		el(0x00080000, "UL", le32(100)),                 // group length: left out
		el(0x00080001, "UL", le32(100)),                 // length to end: left out
		el(0x00080005, "CS", "ISO_IR 192"),
		el(0x00080060, "CS", "CT"),
		el(0x00100010, "PN", "M\xc3\xbcller^Hans"),
		el(0x00100010, "PN", "duplicate^dropped"),
		el(0x00090010, "LO", "PRIVATE CREATOR"), // out of order: sorted
		el(0x00091001, "DS", "1.50"),
		{Tag: 0x00321064, VR: "SQ", Items: []*part10.DataSet{item}},
		el(0x00083002, "UI", "replaced"),
		el(0xFFFCFFFC, "OB", "\x00\x00"), // trailing padding: left out
		el(0x00050010, "LO", "illegal group"),
	}}
	opt := Options{BulkURI: bulkURI, Extra: []Extra{
		StringExtra(0x00083002, "UI", "1.2.840.10008.1.2.1"),
		{Tag: 0x00020001, VR: "OB"},
		{Tag: 0x7FE00010, VR: "OW", Value: []byte(` ["x"] `)},
	}}
	var buf bytes.Buffer
	if err := EncodeDataSet(&buf, &part10.File{CharacterSet: []string{"ISO_IR 100"}}, ds, opt); err != nil {
		t.Fatal(err)
	}
	want := `{"00020001":{"vr":"OB"},` +
		`"00080005":{"vr":"CS","Value":["ISO_IR 192"]},` +
		`"00080060":{"vr":"CS","Value":["CT"]},` +
		`"00083002":{"vr":"UI","Value":["1.2.840.10008.1.2.1"]},` +
		`"00090010":{"vr":"LO","Value":["PRIVATE CREATOR"]},` +
		`"00091001":{"vr":"DS","Value":[1.50]},` +
		`"00100010":{"vr":"PN","Value":[{"Alphabetic":"Müller^Hans"}]},` +
		`"00321064":{"vr":"SQ","Value":[{` +
		`"00080005":{"vr":"CS","Value":["ISO 2022 IR 13","ISO 2022 IR 87"]},` +
		`"00100010":{"vr":"PN","Value":[{"Alphabetic":"ﾔﾏﾀﾞ^ﾀﾛｳ","Ideographic":"山田^太郎"}]},` +
		`"00400100":{"vr":"SQ","Value":[{"00400001":{"vr":"LO","Value":["ﾔﾏ"]}}]}` +
		`}]},` +
		`"7FE00010":{"vr":"OW","Value":["x"]}}`
	if buf.String() != want {
		t.Errorf("got  %s\nwant %s", buf.String(), want)
	}
	var v map[string]any
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
}

func TestEncodeDataSetErrors(t *testing.T) {
	ds := &part10.DataSet{Elements: []*part10.Element{el(0x00100010, "PN", "x")}}
	t.Run("bad extra VR", func(t *testing.T) {
		err := EncodeDataSet(&bytes.Buffer{}, nil, ds, Options{Extra: []Extra{{Tag: 1, VR: "xx"}}})
		if err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("bad extra JSON", func(t *testing.T) {
		err := EncodeDataSet(&bytes.Buffer{}, nil, ds, Options{Extra: []Extra{{Tag: 1, VR: "UI", Value: []byte(`"x"`)}}})
		if err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("writer error", func(t *testing.T) {
		big := &part10.DataSet{}
		for i := range 2000 {
			big.Elements = append(big.Elements, el(part10.Tag(0x00091000+i), "LT", strings.Repeat("x", 100)))
		}
		werr := errors.New("disk full")
		err := EncodeDataSet(failWriter{werr}, nil, big, Options{})
		if !errors.Is(err, werr) {
			t.Fatalf("err = %v, want %v", err, werr)
		}
	})
	t.Run("cycle", func(t *testing.T) {
		cyc := &part10.DataSet{}
		cyc.Elements = []*part10.Element{{Tag: 0x00400100, VR: "SQ", Items: []*part10.DataSet{cyc}}}
		err := EncodeDataSet(&bytes.Buffer{}, nil, cyc, Options{})
		if !errors.Is(err, ErrTooDeep) {
			t.Fatalf("err = %v, want ErrTooDeep", err)
		}
	})
	t.Run("nil data set", func(t *testing.T) {
		var buf bytes.Buffer
		if err := EncodeDataSet(&buf, nil, nil, Options{}); err != nil || buf.String() != "{}" {
			t.Fatalf("got %q, %v", buf.String(), err)
		}
	})
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestValues(t *testing.T) {
	const tag = part10.Tag(0x00091001)
	tests := []struct {
		name string
		el   *part10.Element
		scs  []string
		want []string
	}{
		{"PN trailing carets and groups", el(tag, "PN", "Doe^John^^^=="), nil, []string{"Doe^John"}},
		{"PN groups", el(tag, "PN", "Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B="), []string{"", "ISO 2022 IR 87"},
			[]string{"Yamada^Tarou=山田^太郎"}},
		{"PN empty alphabetic", el(tag, "PN", "=X"), nil, []string{"=X"}},
		{"PN multi", el(tag, "PN", `A\\^^`), nil, []string{"A", "", ""}},
		{"LO", el(tag, "LO", " a \\b "), nil, []string{"a", "b"}},
		{"LT", el(tag, "LT", " a\\b "), nil, []string{" a\\b"}},
		{"UI", el(tag, "UI", "1.2.3\x00"), nil, []string{"1.2.3"}},
		{"IS", el(tag, "IS", `+5\x`), nil, []string{"5", "x"}},
		{"DS", el(tag, "DS", `.5\1E3 `), nil, []string{"0.5", "1e3"}},
		{"US", el(tag, "US", le16(7, 8)), nil, []string{"7", "8"}},
		{"SS big endian", bigEndian(el(tag, "SS", be16(0xFFFE))), nil, []string{"-2"}},
		{"FL", el(tag, "FL", le32(math.Float32bits(0.1))), nil, []string{"0.1"}},
		{"FD NaN", el(tag, "FD", le64(math.Float64bits(math.NaN()))), nil, []string{"NaN"}},
		{"UV", el(tag, "UV", le64(1<<63)), nil, []string{"9223372036854775808"}},
		{"AT", el(tag, "AT", le16(0x0020, 0x000D)), nil, []string{"0020000D"}},
		{"latin1", el(tag, "SH", "J\xe9r\xf4me"), []string{"ISO_IR 100"}, []string{"Jérôme"}},
		{"empty", el(tag, "LO", "  "), nil, nil},
		{"OB", el(tag, "OB", "ab"), nil, nil},
		{"SQ", &part10.Element{Tag: tag, VR: "SQ", Items: []*part10.DataSet{{}}}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec, _ := charset.New(tt.scs)
			got := Values(nil, dec, tt.el)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("Values = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("file character set", func(t *testing.T) {
		f := &part10.File{CharacterSet: []string{"ISO_IR 144"}}
		got := Values(f, nil, el(0x00100010, "PN", "\xbb\xee\xdace\xdc\xd1yp\xd3"))
		if len(got) != 1 || got[0] != "Люкceмбypг" {
			t.Errorf("Values = %q", got)
		}
	})
}

func FuzzEncode(f *testing.F) {
	vrs := []string{"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF", "OL",
		"OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV", "XX"}
	f.Add(uint8(0), []byte("abc"), false, "ISO_IR 100")
	f.Add(uint8(5), []byte(".5\\+1E3\\\\x"), false, "")
	f.Add(uint8(18), []byte("\x1b$B;3ED\x1b(B^a=b"), true, "\\ISO 2022 IR 87")
	f.Add(uint8(8), []byte("\x00\x00\xc0\x7f"), true, "")
	f.Fuzz(func(t *testing.T, vri uint8, raw []byte, big bool, scs string) {
		vr := vrs[int(vri)%len(vrs)]
		e := &part10.Element{Tag: 0x00091001, VR: vr, Length: uint32(len(raw)), Value: raw, BigEndian: big}
		if vr == "SQ" {
			e.Items = []*part10.DataSet{{Elements: []*part10.Element{
				{Tag: 0x00080005, VR: "CS", Value: []byte(scs)},
				{Tag: 0x00100010, VR: "PN", Value: raw},
			}}}
		}
		dec, _ := charset.New(charset.ParseTerms([]byte(scs)))
		got, err := EncodeElement(nil, dec, e, "P", Options{BulkURI: bulkURI, InlineMax: 8})
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(got, &v); err != nil {
			t.Fatalf("invalid JSON %s: %v", got, err)
		}
		if v["vr"] == nil {
			t.Fatalf("no vr: %s", got)
		}
		_ = Values(nil, dec, e)
		var buf bytes.Buffer
		ds := &part10.DataSet{Elements: []*part10.Element{{Tag: 0x00080005, VR: "CS", Value: []byte(scs)}, e}}
		if err := EncodeDataSet(&buf, nil, ds, Options{}); err != nil {
			t.Fatal(err)
		}
		if !json.Valid(buf.Bytes()) {
			t.Fatalf("invalid JSON %s", buf.Bytes())
		}
	})
}
