package hl7

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/kind"
)

func TestOutcome(t *testing.T) {
	tests := []struct {
		name string
		err  error
		ack  AckCode
		code ErrorCode
	}{
		{"nil", nil, AA, 0},
		{"invalid", fmt.Errorf("apply: %w", kind.New(kind.Invalid, "no PID-3")), AE, CodeInternal},
		{"not found", fmt.Errorf("merge: %w", kind.New(kind.NotFound, "no such patient")), AE, CodeUnknownKey},
		{"conflict", kind.Conflict, AE, CodeDuplicateKey},
		{"unsupported", kind.New(kind.Unsupported, "ADT^A99"), AR, CodeUnsupportedType},
		{"unsupported event", NewError(CodeUnsupportedEvent, "event %s", "A99"), AR, CodeUnsupportedEvent},
		{"required field", NewError(CodeRequiredField, "PID-3 missing"), AE, CodeRequiredField},
		{"unavailable", fmt.Errorf("index: %w", kind.Unavailable), AR, CodeInternal},
		{"full", kind.Full, AR, CodeInternal},
		{"forbidden", kind.Forbidden, AR, CodeInternal},
		{"plain", errors.New("disk on fire"), AR, CodeInternal},
		{"207 of no kind", NewError(CodeInternal, "bad"), AE, CodeInternal},
		{"207 wrapping unavailable", NewError(CodeInternal, "db: %w", kind.Unavailable), AR, CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ack, code := Outcome(tt.err)
			if ack != tt.ack || code != tt.code {
				t.Errorf("Outcome = %s %d, want %s %d", ack, code, tt.ack, tt.code)
			}
		})
	}
}

func TestBuildACK(t *testing.T) {
	at := time.Date(2024, 3, 1, 8, 30, 15, 0, time.UTC)
	tests := []struct {
		name string
		file string // "" for no message
		ack  Ack
		want []string // segments
	}{
		{"AA 2.5.1", "omi_o23.hl7", Ack{Code: AA, App: "MINIPACS", Facility: "RAD", ControlID: "C1", Time: at}, []string{
			`MSH|^~\&|MINIPACS|RAD|RIS|GENHOSP|20240301083015+0000||ACK^O23^ACK|C1|P|2.5.1`,
			`MSA|AA|ORD448812`,
		}},
		{"AE 2.5 with location", "adt_a40.hl7", Ack{Code: AE, Error: CodeUnknownKey, Text: "no patient 654321|x", Segment: "MRG", Field: 1, App: "MINIPACS", ControlID: "C2", Time: at}, []string{
			`MSH|^~\&|MINIPACS||EPIC|GENHOSP|20240301083015+0000||ACK^A40^ACK|C2|P|2.5`,
			`MSA|AE|MSG00003|no patient 654321\F\x`,
			`ERR||MRG^1^1|204^Unknown key identifier^HL70357|E||||no patient 654321\F\x`,
		}},
		{"AR 2.3 with ERR-1", "orm_o01.hl7", Ack{Code: AR, Error: CodeUnsupportedEvent, Text: "O01 not here", App: "MINIPACS", ControlID: "C3", Time: at}, []string{
			`MSH|^~\&|MINIPACS||RIS|GENHOSP|20240301083015+0000||ACK^O01^ACK|C3|P|2.3`,
			`MSA|AR|ORD448811|O01 not here`,
			`ERR|^^^201&Unsupported event code&HL70357||201^Unsupported event code^HL70357|E`,
		}},
		{"AE with other delimiters", "adt_a08_hash.hl7", Ack{Code: AE, Error: CodeRequiredField, Text: "a$b", Segment: "PID", Field: 3, App: "MINIPACS", ControlID: "C4", Time: at}, []string{
			`MSH#$%@!#MINIPACS##EPIC#GENHOSP#20240301083015+0000##ACK$A08$ACK#C4#P#2.5`,
			`MSA#AE#MSG00005#a@S@b`,
			`ERR##PID$1$3#101$Required field missing$HL70357#E####a@S@b`,
		}},
		{"AA keeps the character set", "adt_a01.hl7", Ack{Code: AA, App: "MINIPACS", ControlID: "C5", Time: at}, []string{
			`MSH|^~\&|MINIPACS||EPIC|GENHOSP|20240301083015+0000||ACK^A01^ACK|C5|P|2.5.1|||||||8859/1`,
			`MSA|AA|MSG00001`,
		}},
		{"no message", "", Ack{Code: AR, Error: CodeSegmentSequence, Text: "no MSH", App: "MINIPACS", ControlID: "C6", Time: at}, []string{
			`MSH|^~\&|MINIPACS||||20240301083015+0000||ACK|C6|P|2.5`,
			`MSA|AR||no MSH`,
			`ERR|||100^Segment sequence error^HL70357|E||||no MSH`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m *Message
			if tt.file != "" {
				var err error
				if m, err = Parse(readMessage(t, tt.file)); err != nil {
					t.Fatal(err)
				}
			}
			got := string(BuildACK(m, tt.ack))
			want := strings.Join(tt.want, "\r") + "\r"
			if got != want {
				t.Errorf("ACK\n got %q\nwant %q", got, want)
			}
			// The ACK parses, and says what it was built with.
			a, err := Parse([]byte(got))
			if err != nil {
				t.Fatal(err)
			}
			if AckCodeOf([]byte(got)) != tt.ack.Code || a.Segment("MSA").Field(3) != truncate(tt.ack.Text, 80) && tt.ack.Code != AA {
				t.Errorf("MSA = %q", a.Segment("MSA").Raw(1))
			}
		})
	}
	// Long texts are cut to MSA-3's 80 characters; non-Latin-1 text in an
	// 8859/1 ACK becomes '?'.
	m, _ := Parse(readMessage(t, "adt_a01.hl7"))
	b := BuildACK(m, Ack{Code: AE, ControlID: "C7", Text: "Łódź " + strings.Repeat("x", 300)})
	a, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Segment("MSA").Field(3); !strings.HasPrefix(got, "?ód? xxx") || len([]rune(got)) != 80 {
		t.Errorf("MSA-3 = %q", got)
	}
}

func TestVersionLess(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{{"2.3", "2.5", true}, {"2.3.1", "2.5", true}, {"2.4", "2.5", true}, {"2.5", "2.5", false}, {"2.5.1", "2.5", false}, {"2.10", "2.5", false}, {"x", "2.5", true}} {
		if got := versionLess(tt.a, tt.b); got != tt.want {
			t.Errorf("versionLess(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}
