package charset

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"
)

// testdataDir is shared/testdata/pydicom/charset_files.
func testdataDir(t testing.TB) string { return filepath.Join(testcorpus.DirT(t), "charset_files") }

// scanned is one element found by scanExplicitLE.
type scanned struct {
	depth int
	tag   uint32
	vr    string
	value []byte
}

// scanExplicitLE lists the elements of an Explicit VR Little Endian
// Part-10 file, items included (depth > 0). It is a test helper for the
// charset files only (all of them are Explicit VR Little Endian).
func scanExplicitLE(t *testing.T, b []byte) []scanned {
	t.Helper()
	if len(b) < 132 || string(b[128:132]) != "DICM" {
		t.Fatal("not a Part-10 file")
	}
	var out []scanned
	var walk func(p []byte, depth int)
	walk = func(p []byte, depth int) {
		for len(p) >= 8 {
			tag := uint32(binary.LittleEndian.Uint16(p))<<16 | uint32(binary.LittleEndian.Uint16(p[2:]))
			if tag>>16 == 0xFFFE { // item or delimiter
				n := binary.LittleEndian.Uint32(p[4:])
				p = p[8:]
				if tag == 0xFFFEE000 && n != 0xFFFFFFFF && int(n) <= len(p) {
					walk(p[:n], depth+1)
					p = p[n:]
				}
				continue
			}
			vr := string(p[4:6])
			var n uint32
			switch vr {
			case "OB", "OW", "OF", "OD", "OL", "OV", "SQ", "UN", "UC", "UR", "UT", "SV", "UV":
				n = binary.LittleEndian.Uint32(p[8:])
				p = p[12:]
			default:
				n = uint32(binary.LittleEndian.Uint16(p[6:]))
				p = p[8:]
			}
			if n == 0xFFFFFFFF {
				if vr != "SQ" {
					t.Fatalf("undefined length %s", vr)
				}
				continue // items follow inline
			}
			if int(n) > len(p) {
				t.Fatalf("element %08X past the end", tag)
			}
			if vr == "SQ" {
				walk(p[:n], depth)
			} else {
				out = append(out, scanned{depth, tag, vr, p[:n]})
			}
			p = p[n:]
		}
	}
	walk(b[132:], 0)
	return out
}

// TestFiles decodes the names of the pydicom charset files (pydicom's own
// expectations, from its test_charset.py).
func TestFiles(t *testing.T) {
	dir := testdataDir(t)
	tests := []struct {
		file  string
		depth int    // where PatientName is
		tag   uint32 // 0 → PatientName
		want  string
	}{
		{"chrArab", 0, 0, "قباني^لنزار"},
		{"chrFren", 0, 0, "Buc^Jérôme"},
		{"chrFrenMulti", 0, 0, "Buc^Jérôme"},
		{"chrFrenMulti", 0, 0x00101001, `Buc^Jérôme\Buc^Jérôme`},
		{"chrGerm", 0, 0, "Äneas^Rüdiger"},
		{"chrGreek", 0, 0, "Διονυσιος"},
		{"chrH31", 0, 0, "Yamada^Tarou=山田^太郎=やまだ^たろう"},
		{"chrH32", 0, 0, "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"},
		{"chrHbrw", 0, 0, "שרון^דבורה"},
		{"chrI2", 0, 0, "Hong^Gildong=洪^吉洞=홍^길동"},
		{"chrJapMulti", 0, 0, "やまだ^たろう"},
		{"chrJapMulti", 0, 0x00101001, `やまだ^たろう\やまだ^たろう`},
		{"chrJapMulti", 0, 0x001021B0, "たろう"},
		{"chrJapMultiExplicitIR6", 0, 0, "やまだ^たろう"},
		{"chrKoreanMulti", 0, 0, "김희중"},
		{"chrKoreanMulti", 0, 0x00101001, `김희중\김희중`},
		{"chrKoreanMulti", 0, 0x001021B0, "김희중"},
		{"chrRuss", 0, 0, "Люкceмбypг"},
		{"chrX1", 0, 0, "Wang^XiaoDong=王^小東="},
		{"chrX2", 0, 0, "Wang^XiaoDong=王^小东="},
		{"chrSQEncoding", 1, 0, "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"},
		{"chrSQEncoding1", 1, 0, "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.want, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, tt.file+".dcm"))
			if err != nil {
				t.Fatal(err)
			}
			tag := tt.tag
			if tag == 0 {
				tag = 0x00100010
			}
			// The character set in force: the nearest (0008,0005) at or
			// above the element's depth.
			scs := map[int][]string{}
			var got *scanned
			for _, e := range scanExplicitLE(t, b) {
				if e.tag == 0x00080005 {
					scs[e.depth] = ParseTerms(e.value)
				}
				if e.tag == tag && e.depth == tt.depth {
					got = &e
					break
				}
			}
			if got == nil {
				t.Fatalf("%08X not found", tag)
			}
			var terms []string
			for d := tt.depth; d >= 0; d-- {
				if v, ok := scs[d]; ok {
					terms = v
					break
				}
			}
			dec, err := New(terms)
			if err != nil {
				t.Fatalf("New(%q): %v", terms, err)
			}
			s := strings.TrimRight(dec.Decode(got.vr, got.value), " \x00")
			if s != tt.want {
				t.Errorf("Decode(%q) with %q = %q, want %q", got.value, terms, s, tt.want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name  string
		terms []string
		vr    string
		raw   string
		want  string
	}{
		{"default ascii", nil, "PN", "Doe^John", "Doe^John"},
		{"default utf8 heuristic", nil, "LO", "M\xc3\xbcller", "Müller"},
		{"default latin1 fallback", []string{""}, "LO", "M\xfcller", "Müller"},
		{"ISO_IR 100", []string{"ISO_IR 100"}, "PN", "Buc^J\xe9r\xf4me", "Buc^Jérôme"},
		{"ISO_IR 101", []string{"ISO_IR 101"}, "PN", "Wa\xb3\xeasa", "Wałęsa"},
		{"ISO_IR 109", []string{"ISO_IR 109"}, "LO", "anta\xfdnomo", "antaŭnomo"},
		{"ISO_IR 110", []string{"ISO_IR 110"}, "LO", "v\xe0rds", "vārds"},
		{"ISO_IR 144", []string{"ISO_IR 144"}, "PN", "\xbb\xee\xdace\xdc\xd1yp\xd3", "Люкceмбypг"},
		{"ISO_IR 127", []string{"ISO_IR 127"}, "PN", "\xe2\xc8\xc7\xe6\xea^\xe4\xe6\xd2\xc7\xd1", "قباني^لنزار"},
		{"ISO_IR 126", []string{"ISO_IR 126"}, "PN", "\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2", "Διονυσιος"},
		{"ISO_IR 138", []string{"ISO_IR 138"}, "PN", "\xf9\xf8\xe5\xef^\xe3\xe1\xe5\xf8\xe4", "שרון^דבורה"},
		{"ISO_IR 148", []string{"ISO_IR 148"}, "PN", "\xc7avu\xfeo\xf0lu", "Çavuşoğlu"},
		{"ISO_IR 203", []string{"ISO_IR 203"}, "LO", "5 \xa4", "5 €"},
		{"ISO_IR 166", []string{"ISO_IR 166"}, "LO", "\xb9\xd2\xc1\xca\xa1\xd8\xc5", "นามสกุล"},
		{"ISO_IR 166 C1", []string{"ISO_IR 166"}, "LO", "\x80", "\u0080"},
		{"ISO_IR 13", []string{"ISO_IR 13"}, "PN", "\xd4\xcf\xc0\xde^\xc0\xdb\xb3", "ﾔﾏﾀﾞ^ﾀﾛｳ"},
		{"ISO_IR 192", []string{"ISO_IR 192"}, "PN", "Wang^XiaoDong=\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1=", "Wang^XiaoDong=王^小東="},
		{"ISO_IR 192 invalid", []string{"ISO_IR 192"}, "PN", "\xc4\xe9", "\uFFFD\uFFFD"},
		{"GB18030", []string{"GB18030"}, "PN", "Wang^XiaoDong=\xcd\xf5^\xd0\xa1\xb6\xab=", "Wang^XiaoDong=王^小东="},
		{"GB18030 four-byte", []string{"GB18030"}, "LO", "\x81\x30\x81\x30", "\u0080"},
		{"GBK trail byte 0x5C", []string{"GBK"}, "LO", "\x81\x5c\\a", `乗\a`},
		// ISO 2022 single-byte extensions (pydicom's test data).
		{"2022 IR 13", []string{"ISO 2022 IR 13"}, "PN", "\x1b\x29\x49\xd4\xcf\xc0\xde\x5e\x1b\x29\x49\xc0\xdb\xb3", "ﾔﾏﾀﾞ^ﾀﾛｳ"},
		{"2022 IR 100", []string{"ISO 2022 IR 100"}, "PN", "\x1b\x2d\x41\x42\x75\x63\x5e\x1b\x2d\x41\x4a\xe9\x72\xf4\x6d\x65", "Buc^Jérôme"},
		{"2022 IR 101", []string{"ISO 2022 IR 101"}, "PN", "\x1b\x2d\x42\x57\x61\xb3\xea\x73\x61", "Wałęsa"},
		{"2022 IR 109", []string{"ISO 2022 IR 109"}, "PN", "\x1b\x2d\x43\x61\x6e\x74\x61\xfd\x6e\x6f\x6d\x6f", "antaŭnomo"},
		{"2022 IR 110", []string{"ISO 2022 IR 110"}, "PN", "\x1b\x2d\x44\x76\xe0\x72\x64\x73", "vārds"},
		{"2022 IR 127", []string{"ISO 2022 IR 127"}, "PN", "\x1b\x2d\x47\xe2\xc8\xc7\xe6\xea\x5e\x1b\x2d\x47\xe4\xe6\xd2\xc7\xd1", "قباني^لنزار"},
		{"2022 IR 126", []string{"ISO 2022 IR 126"}, "PN", "\x1b\x2d\x46\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2", "Διονυσιος"},
		{"2022 IR 138", []string{"ISO 2022 IR 138"}, "PN", "\x1b\x2d\x48\xf9\xf8\xe5\xef\x5e\x1b\x2d\x48\xe3\xe1\xe5\xf8\xe4", "שרון^דבורה"},
		{"2022 IR 144", []string{"ISO 2022 IR 144"}, "PN", "\x1b\x2d\x4c\xbb\xee\xda\x63\x65\xdc\xd1\x79\x70\xd3", "Люкceмбypг"},
		{"2022 IR 148", []string{"ISO 2022 IR 148"}, "PN", "\x1b\x2d\x4d\xc7\x61\x76\x75\xfe\x6f\xf0\x6c\x75", "Çavuşoğlu"},
		{"2022 IR 166", []string{"ISO 2022 IR 166"}, "PN", "\x1b\x2d\x54\xb9\xd2\xc1\xca\xa1\xd8\xc5", "นามสกุล"},
		{"2022 IR 203", []string{"ISO 2022 IR 203"}, "LO", "\x1b\x2d\x62\xa4", "€"},
		// Multi-byte sets.
		{"JIS X 0212", []string{"", "ISO 2022 IR 159"}, "LO", "\x1b$(D0!\x1b(B", "丂"},
		{"JIS X 0208 and 0212 mixed", []string{"", "ISO 2022 IR 87", "ISO 2022 IR 159"}, "LO", "\x1b$B;3\x1b$(D0!\x1b(Ba", "山丂a"},
		{"GB2312 G1", []string{"", "ISO 2022 IR 58"}, "PN", "Wang^XiaoDong=\x1b$)A\xcd\xf5^\x1b$)A\xd0\xa1\xb6\xab", "Wang^XiaoDong=王^小东"},
		{"KS X 1001 G1", []string{"", "ISO 2022 IR 149"}, "PN", "\x1b$)C\xb1\xe8\xc8\xf1\xc1\xdf", "김희중"},
		{"KS X 1001 without escape", []string{"", "ISO 2022 IR 149"}, "LO", "\xb1\xe8\xc8\xf1\xc1\xdf", "김희중"},
		{"JIS odd byte", []string{"", "ISO 2022 IR 87"}, "LO", "\x1b$B;", "\uFFFD"},
		{"KS truncated", []string{"", "ISO 2022 IR 149"}, "LO", "\x1b$)C\xb1", "\uFFFD"},
		// Resets (PS3.5 6.1.2.5.3): PN groups and components, value
		// delimiters, CR/LF/TAB in text; not '^' outside PN.
		{"PN reset at =", []string{"ISO 2022 IR 100", "ISO 2022 IR 126"}, "PN",
			"Dionysios=\x1b\x2d\x46\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2", "Dionysios=Διονυσιος"},
		{"PN reset at ^", []string{"ISO 2022 IR 100", "ISO 2022 IR 126"}, "PN", "\x1b\x2d\x46\xc4^\xc4", "Δ^Ä"},
		{"LO no reset at ^", []string{"ISO 2022 IR 100", "ISO 2022 IR 126"}, "LO", "\x1b\x2d\x46\xc4^\xc4", "Δ^Δ"},
		{"LO reset at backslash", []string{"ISO 2022 IR 100", "ISO 2022 IR 126"}, "LO", "\x1b\x2d\x46\xc4\\\xc4", `Δ\Ä`},
		{"LT reset at CR LF", []string{"ISO 2022 IR 100", "ISO 2022 IR 126"}, "LT", "\x1b\x2d\x46\xc4\r\n\xc4", "Δ\r\nÄ"},
		{"LT reset at TAB", []string{"ISO 2022 IR 100", "ISO 2022 IR 126"}, "LT", "\x1b\x2d\x46\xc4\t\xc4", "Δ\tÄ"},
		{"JIS back to ASCII", []string{"", "ISO 2022 IR 87"}, "PN", "\x1b$B;3ED\x1b(B^a", "山田^a"},
		{"JIS 0x5C inside a character", []string{"", "ISO 2022 IR 87"}, "LO", "\x1b$B\x30\x5c\x1b(B", "移"},
		{"multi default first value", []string{"ISO 2022 IR 100", "ISO 2022 IR 144"}, "LO", "R\xf6ntgenaufnahme", "Röntgenaufnahme"},
		{"multi values different sets", []string{"ISO 2022 IR 100", "ISO 2022 IR 126", "ISO 2022 IR 144"}, "PN",
			"Buc^J\xe9r\xf4me\\\x1b\x2d\x46\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2\\\x1b\x2d\x4c\xbb\xee\xda\x63\x65\xdc\xd1\x79\x70\xd3",
			`Buc^Jérôme\Διονυσιος\Люкceмбypг`},
		{"unknown escape kept", []string{"ISO 2022 IR 100"}, "LO", "\x1b%Ga", "\x1b%Ga"},
		{"no escapes without 2022", []string{"ISO_IR 100"}, "LO", "\x1b\x2d\x46\xc4", "\x1b-FÄ"},
		// VRs not affected by the character set are read in the default repertoire.
		{"CS default", []string{"ISO_IR 126"}, "CS", "ABC\xc4", "ABCÄ"},
		{"UI default", []string{"ISO 2022 IR 87"}, "UI", "1.2.3\x00", "1.2.3\x00"},
		{"empty", []string{"ISO_IR 100"}, "LO", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.terms)
			if err != nil {
				t.Fatalf("New(%q): %v", tt.terms, err)
			}
			if got := d.Decode(tt.vr, []byte(tt.raw)); got != tt.want {
				t.Errorf("Decode(%s, %q) = %q, want %q", tt.vr, tt.raw, got, tt.want)
			}
		})
	}
}

func TestNewWarnings(t *testing.T) {
	tests := []struct {
		name    string
		terms   []string
		unknown bool
		warn    string // substring of Warning(), "" → none
		raw     string
		want    string
	}{
		{"unknown falls back", []string{"UNSUPPORTED"}, true, "UNSUPPORTED", "Buc^J\xe9r\xf4me", "Buc^Jérôme"},
		{"unknown extension ignored", []string{"ISO 2022 IR 100", "ISO 2022 IR 999"}, true, "999", "J\xe9r", "Jér"},
		{"misspelled", []string{"ISO-IR 144"}, false, `"ISO_IR 144"`, "\xbb\xee", "Лю"},
		{"misspelled extension", []string{"ISO 2022 IR 100", "ISO_2022_IR+126"}, true, "ISO_2022_IR+126", "a", "a"},
		{"lower case", []string{"iso_ir 100"}, false, "nonstandard", "\xe9", "é"},
		{"utf8 ignores extensions", []string{"ISO_IR 192", "ISO 2022 IR 100"}, false, "no code extensions", "\xc3\xa9", "é"},
		{"standalone as extension", []string{"ISO 2022 IR 100", "GBK"}, false, "cannot be a code extension", "\xe9", "é"},
		{"canonical", []string{"ISO_IR 100"}, false, "", "\xe9", "é"},
		{"canonical ext", []string{"", "ISO 2022 IR 87"}, false, "", "a", "a"},
		{"empty", nil, false, "", "a", "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.terms)
			if d == nil {
				t.Fatal("nil decoder")
			}
			if got := errors.Is(err, ErrUnknownTerm); got != tt.unknown {
				t.Errorf("err = %v, want unknown=%v", err, tt.unknown)
			}
			if tt.warn == "" && d.Warning() != "" {
				t.Errorf("Warning() = %q, want none", d.Warning())
			}
			if tt.warn != "" && !strings.Contains(d.Warning(), tt.warn) {
				t.Errorf("Warning() = %q, want it to mention %q", d.Warning(), tt.warn)
			}
			if got := d.Decode("LO", []byte(tt.raw)); got != tt.want {
				t.Errorf("Decode(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

func TestParseTerms(t *testing.T) {
	tests := []struct {
		raw  string
		want []string
	}{
		{"", nil},
		{"  ", nil},
		{"ISO_IR 100 ", []string{"ISO_IR 100"}},
		{`\ISO 2022 IR 87`, []string{"", "ISO 2022 IR 87"}},
		{"ISO 2022 IR 13\\ISO 2022 IR 87\x00", []string{"ISO 2022 IR 13", "ISO 2022 IR 87"}},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got := ParseTerms([]byte(tt.raw))
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("ParseTerms(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("ISO 2022 IR 13\\ISO 2022 IR 87", "PN", []byte("\xd4\xcf^\x1b$B;3ED\x1b(J=\x1b$(D0!"))
	f.Add("\\ISO 2022 IR 149", "LO", []byte("\x1b$)C\xb1\xe8\xc8"))
	f.Add("GB18030", "PN", []byte("\x81\x30\x81"))
	f.Add("ISO_IR 192", "LT", []byte("\xff\xfe"))
	f.Add("ISO 2022 IR 100\\ISO 2022 IR 58", "PN", []byte("\x1b$)A\xcd\xf5\x1b$A;3"))
	f.Fuzz(func(t *testing.T, scs, vr string, raw []byte) {
		d, _ := New(strings.Split(scs, `\`))
		s := d.Decode(vr, raw)
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 %q", s)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	ascii, _ := New([]string{"ISO_IR 100"})
	jp, _ := New([]string{"", "ISO 2022 IR 87"})
	for _, bc := range []struct {
		name string
		d    *Decoder
		raw  []byte
	}{
		{"ascii", ascii, []byte("Doe^John^^^")},
		{"latin1", ascii, []byte("Buc^J\xe9r\xf4me")},
		{"iso2022jp", jp, []byte("Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = bc.d.Decode("PN", bc.raw)
			}
		})
	}
}
