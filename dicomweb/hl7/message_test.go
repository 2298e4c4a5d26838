package hl7

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/kind"
)

// readMessage reads a testdata message (one segment a line) with CR
// segment ends, as sent on the wire.
func readMessage(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(bytes.TrimRight(b, "\n"), []byte("\n"), []byte("\r"))
}

type check struct {
	seg       string
	n         int // which segment of that name (0: first)
	field     int
	rep, comp int // rep 0: the first; comp 0: the whole field
	want      string
}

func TestParseMessages(t *testing.T) {
	tests := []struct {
		file                   string
		code, event, structure string
		control, version       string
		app, facility          string
		segments               int
		checks                 []check
	}{
		{"adt_a01.hl7", "ADT", "A01", "ADT_A01", "MSG00001", "2.5.1", "EPIC", "GENHOSP", 4, []check{
			{"PID", 0, 3, 0, 1, "123456"},
			{"PID", 0, 3, 1, 1, "987-65-4321"},
			{"PID", 0, 3, 1, 5, "SS"},
			{"PID", 0, 5, 0, 1, "O'Brien^Müller"},
			{"PID", 0, 5, 0, 2, "Siân"},
			{"PID", 0, 11, 0, 1, "12 Main St|Apt 3"},
			{"PV1", 0, 19, 0, 0, "V00042"},
			{"EVN", 0, 5, 0, 3, "John"},
		}},
		{"adt_a08.hl7", "ADT", "A08", "ADT_A01", "MSG00002", "2.4", "EPIC", "GENHOSP", 4, []check{
			{"NTE", 0, 3, 0, 0, "Allergy: penicillin\nNote: 2 lines \\ backslash & amp ~ tilde"},
			{"PID", 0, 5, 0, 2, "JANE"},
		}},
		{"adt_a40.hl7", "ADT", "A40", "ADT_A39", "MSG00003", "2.5", "EPIC", "GENHOSP", 4, []check{
			{"MRG", 0, 1, 0, 1, "654321"},
			{"MRG", 0, 1, 0, 4, "GENHOSP"},
		}},
		{"adt_a47.hl7", "ADT", "A47", "ADT_A30", "MSG00004", "2.5", "EPIC", "GENHOSP", 4, []check{
			{"PID", 0, 3, 0, 1, "777777"},
			{"MRG", 0, 1, 0, 1, "123456"},
		}},
		{"orm_o01.hl7", "ORM", "O01", "", "ORD448811", "2.3", "RIS", "GENHOSP", 6, []check{
			{"OBR", 0, 18, 0, 0, "ACC123456"},
			{"OBR", 0, 4, 0, 2, "CHEST 2 VIEWS"},
			{"ORC", 0, 7, 0, 4, "20240306090000"},
			{"ZDS", 0, 1, 0, 1, "1.2.840.113619.2.55.3.604688119.969.1268071029.320"},
		}},
		{"omi_o23.hl7", "OMI", "O23", "OMI_O23", "ORD448812", "2.5.1", "RIS", "GENHOSP", 6, []check{
			{"IPC", 0, 3, 0, 0, "1.2.840.113619.2.55.3.1"},
			{"IPC", 0, 5, 0, 0, "CT"},
		}},
		{"oru_r01.hl7", "ORU", "R01", "ORU_R01", "RPT9001", "2.5.1", "REPORTING", "GENHOSP", 5, []check{
			{"OBX", 0, 5, 0, 0, "FINDINGS: Heart size normal."},
			{"OBX", 0, 5, 1, 0, "Lungs clear; no effusion."},
			{"OBX", 1, 5, 0, 0, "IMPRESSION: No acute disease — signed Dr. Łukasz Żółć 1°"},
		}},
		{"adt_a08_hash.hl7", "ADT", "A08", "ADT_A01", "MSG00005", "2.5", "EPIC", "GENHOSP", 3, []check{
			{"PID", 0, 3, 0, 1, "123456"},
			{"PID", 0, 3, 1, 1, "ABC"},
			{"PID", 0, 3, 1, 4, "OTHER"},
			{"PID", 0, 5, 0, 1, "SMITH$JONES"},
			{"PID", 0, 5, 0, 2, "ANN"},
			{"MSH", 0, 1, 0, 0, "#"},
			{"MSH", 0, 2, 0, 0, "$%@!"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw := readMessage(t, tt.file)
			// The same message with CR, LF and CRLF segment ends.
			for _, eol := range []string{"\r", "\n", "\r\n"} {
				b := bytes.ReplaceAll(raw, []byte("\r"), []byte(eol))
				m, err := Parse(b)
				if err != nil {
					t.Fatalf("eol %q: %v", eol, err)
				}
				code, event, structure := m.Type()
				if code != tt.code || event != tt.event || structure != tt.structure {
					t.Errorf("Type = %s %s %s", code, event, structure)
				}
				if m.ControlID() != tt.control || m.Version() != tt.version {
					t.Errorf("ControlID %q Version %q", m.ControlID(), m.Version())
				}
				if app, fac := m.Sender(); app != tt.app || fac != tt.facility {
					t.Errorf("Sender = %q %q", app, fac)
				}
				if app, fac := m.Receiver(); app != "MINIPACS" || fac != "RADIOLOGY" {
					t.Errorf("Receiver = %q %q", app, fac)
				}
				if len(m.All()) != tt.segments {
					t.Errorf("%d segments, want %d", len(m.All()), tt.segments)
				}
				for _, c := range tt.checks {
					segs := m.Segments(c.seg)
					if len(segs) <= c.n {
						t.Fatalf("no %s #%d", c.seg, c.n)
					}
					reps := segs[c.n].Repetitions(c.field)
					if len(reps) <= c.rep {
						t.Fatalf("%s-%d: %d repetitions", c.seg, c.field, len(reps))
					}
					got := reps[c.rep].Text()
					if c.comp > 0 {
						got = reps[c.rep].Component(c.comp)
					}
					if got != c.want {
						t.Errorf("%s-%d rep %d comp %d = %q, want %q", c.seg, c.field, c.rep, c.comp, got, c.want)
					}
					if c.rep == 0 && c.comp > 0 && segs[c.n].Component(c.field, c.comp) != c.want {
						t.Errorf("Component(%d, %d) = %q", c.field, c.comp, segs[c.n].Component(c.field, c.comp))
					}
				}
			}
		})
	}
}

func TestParseCharset(t *testing.T) {
	msh := "MSH|^~\\&|A|F|||20240101||ADT^A08|1|P|2.5||||||"
	for _, tt := range []struct {
		name     string
		charset  string
		body     []byte
		want     string
		fallback bool
		fail     bool
	}{
		{"default is 8859/1", "", []byte("PID|1||1||M\xfcller"), "Müller", false, false},
		{"8859/1", "8859/1", []byte("PID|1||1||M\xfcller"), "Müller", false, false},
		{"utf-8", "UNICODE UTF-8", []byte("PID|1||1||Müller"), "Müller", false, false},
		{"bad utf-8", "UNICODE UTF-8", []byte("PID|1||1||M\xfcller"), "", false, true},
		{"unknown: 8859/1 and said", "ISO IR87", []byte("PID|1||1||M\xfcller"), "Müller", true, false},
		{"hex escape in 8859/1", "8859/1", []byte(`PID|1||1||M\XFC\ller`), "Müller", false, false},
		{"hex escape in utf-8", "UNICODE UTF-8", []byte(`PID|1||1||M\XC3BC\ller`), "Müller", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := append([]byte(msh+tt.charset+"\r"), tt.body...)
			m, err := Parse(b)
			if tt.fail {
				var he *Error
				if !errors.As(err, &he) || he.Code != CodeDataType {
					t.Fatalf("err %v, want code 102", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Segment("PID").Component(5, 1); got != tt.want {
				t.Errorf("PID-5 = %q, want %q", got, tt.want)
			}
			if cs, fb := m.Charset(); cs != tt.charset || fb != tt.fallback {
				t.Errorf("Charset = %q %v", cs, fb)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	long := "MSH|^~\\&|A|F|||2024||ADT^A08|1|P|2.5\rNTE|1||" + strings.Repeat("x", 2<<20)
	manyFields := "MSH|^~\\&|A|F|||2024||ADT^A08|1|P|2.5\rNTE" + strings.Repeat("|x", 1001)
	tests := []struct {
		name string
		in   string
		code ErrorCode
		kind *kind.Kind
		msh  bool // the MSH could be read (the server answers from it)
	}{
		{"empty", "", CodeSegmentSequence, kind.Invalid, false},
		{"no MSH", "PID|1||123\r", CodeSegmentSequence, kind.Invalid, false},
		{"MSH not first", "EVN|A01\rMSH|^~\\&|A|F|||2024||ADT^A01|1|P|2.5\r", CodeSegmentSequence, kind.Invalid, false},
		{"short encoding chars", "MSH|^~|A|F|||2024||ADT^A01|1|P|2.5\r", CodeDataType, kind.Invalid, false},
		{"repeated delimiter", "MSH|^^\\&|A|F|||2024||ADT^A01|1|P|2.5\r", CodeDataType, kind.Invalid, false},
		{"alphanumeric separator", "MSHA^~\\&AAAFAAA2024AAADT^A01A1APA2.5\r", CodeDataType, kind.Invalid, false},
		{"no type", "MSH|^~\\&|A|F|||2024|||1|P|2.5\r", CodeRequiredField, kind.Invalid, true},
		{"no event", "MSH|^~\\&|A|F|||2024||ADT|1|P|2.5\r", CodeRequiredField, kind.Invalid, true},
		{"no control ID", "MSH|^~\\&|A|F|||2024||ADT^A01||P|2.5\r", CodeRequiredField, kind.Invalid, true},
		{"no version", "MSH|^~\\&|A|F|||2024||ADT^A01|1|P\r", CodeRequiredField, kind.Invalid, true},
		{"bad segment name", "MSH|^~\\&|A|F|||2024||ADT^A01|1|P|2.5\rpid|1\r", CodeSegmentSequence, kind.Invalid, true},
		{"segment name too long", "MSH|^~\\&|A|F|||2024||ADT^A01|1|P|2.5\rPIDX|1\r", CodeSegmentSequence, kind.Invalid, true},
		{"second MSH", "MSH|^~\\&|A|F|||2024||ADT^A01|1|P|2.5\rMSH|^~\\&|A|F|||2024||ADT^A01|2|P|2.5\r", CodeSegmentSequence, kind.Invalid, true},
		{"too large", long, CodeInternal, kind.Full, false},
		{"too many fields", manyFields, CodeInternal, kind.Full, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.in))
			if m != nil || err == nil {
				t.Fatalf("Parse = %v, %v; want an error", m, err)
			}
			var he *Error
			if !errors.As(err, &he) || he.Code != tt.code {
				t.Fatalf("err %v, want code %d", err, tt.code)
			}
			if kind.Of(err) != tt.kind {
				t.Errorf("kind %v, want %v", kind.Of(err), tt.kind)
			}
			pm, _ := Parser{}.parse([]byte(tt.in))
			if (pm != nil) != tt.msh {
				t.Errorf("MSH read: %v, want %v", pm != nil, tt.msh)
			}
		})
	}
	// Too many segments.
	many := "MSH|^~\\&|A|F|||2024||ADT^A08|1|P|2.5" + strings.Repeat("\rNTE|1", 10)
	if _, err := (Parser{MaxSegments: 5}).Parse([]byte(many)); kind.Of(err) != kind.Full {
		t.Errorf("10 segments, limit 5: %v", err)
	}
}

func TestUnescape(t *testing.T) {
	e := &encoding{Delimiters: DefaultDelimiters, latin1: true}
	for in, want := range map[string]string{
		`plain`:             "plain",
		`a\F\b\S\c\T\d\R\e`: "a|b^c&d~e",
		`\E\\E\`:            `\\`,
		`line\.br\two`:      "line\ntwo",
		`\H\bold\N\`:        "bold",
		`\X41\\X4142\`:      "AAB",
		`unterminated\F`:    `unterminated\F`,
		`\Zcustom\`:         `\Zcustom\`,
		`\X4\`:              `\X4\`,
		`\.sp2\x`:           "x",
	} {
		if got := e.unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
	// escape and unescape are inverse.
	for _, s := range []string{"a|b^c&d~e\\f", "two\nlines", ""} {
		if got := e.unescape(DefaultDelimiters.escape(s)); got != s {
			t.Errorf("round trip %q = %q", s, got)
		}
	}
}

func TestMessageAccessors(t *testing.T) {
	m, err := Parse(readMessage(t, "adt_a01.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	pid := m.Segment("PID")
	if pid.Raw(5) != `O'Brien\S\Müller^Siân^Q^^Dr.` {
		t.Errorf("Raw(5) = %q", pid.Raw(5))
	}
	if pid.Field(99) != "" || pid.Component(5, 99) != "" || pid.Component(5, 0) != "" || pid.Repetitions(99) != nil {
		t.Error("absent values are not empty")
	}
	if pid.Subcomponent(3, 4, 1) != "GENHOSP" || pid.Subcomponent(3, 4, 2) != "" {
		t.Error("Subcomponent")
	}
	if m.MSH().Field(1) != "|" || m.MSH().Field(2) != `^~\&` || m.MSH().Field(3) != "EPIC" {
		t.Errorf("MSH-1..3 = %q %q %q", m.MSH().Field(1), m.MSH().Field(2), m.MSH().Field(3))
	}
	if m.ProcessingID() != "P" || m.Segment("ZZZ") != nil || m.Delimiters() != DefaultDelimiters {
		t.Error("ProcessingID, Segment or Delimiters")
	}
	// String gives back the message (in UTF-8), parseable again.
	m, err = Parse(readMessage(t, "adt_a08.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Parse([]byte(m.String()))
	if err != nil || m2.String() != m.String() {
		t.Fatalf("String round trip: %v", err)
	}
	// The v2.7 truncation character is ignored.
	m3, err := Parse([]byte("MSH|^~\\&#|A|F|||2024||ADT^A08|1|P|2.7\rPID|1||1^^^X||A^B"))
	if err != nil || m3.Segment("PID").Component(5, 2) != "B" {
		t.Fatalf("truncation character: %v", err)
	}
}
