package hl7

import (
	"strconv"
	"strings"
	"time"
)

// Ack describes an original mode acknowledgment to build.
type Ack struct {
	Code AckCode // AA, AE or AR
	// Error is the HL7 error code of an AE or AR (0: 207).
	Error ErrorCode
	// Text goes to MSA-3 (at most 80 characters) and, from v2.5, ERR-8
	// (at most 250): say what went wrong. Escaped here.
	Text string
	// Segment and Field locate the error (ERR-2, and ERR-1 before v2.5),
	// when known.
	Segment string
	Field   int
	// App and Facility are ours: MSH-3 and MSH-4 of the ACK.
	App, Facility string
	// ControlID is the ACK's own MSH-10.
	ControlID string
	Time      time.Time // MSH-7 (zero: now)
}

// DefaultVersion is MSH-12 of an ACK to a message whose version could not
// be read.
const DefaultVersion = "2.5"

// BuildACK returns the original mode ACK of m, segments ended by CR,
// without the MLLP frame: MSH with the sender and receiver of m swapped,
// MSH-9 ACK^<event>^ACK, MSA (code, m's control ID, text) and, for AE
// and AR, ERR: ERR-2 location, ERR-3 code^text^HL70357, ERR-4 severity E,
// ERR-8 the text; before v2.5 also ERR-1 (segment^sequence^field^
// code&text&HL70357). The ACK uses m's delimiters, version, processing ID
// and character set. m may be nil (no MSH could be read): then the
// default delimiters, version DefaultVersion and an empty MSA-2.
func BuildACK(m *Message, a Ack) []byte {
	d := DefaultDelimiters
	var recvApp, recvFac, event, ctl, procID, version, charset string
	latin1 := true
	procID, version = "P", DefaultVersion
	if m != nil {
		d = m.enc.Delimiters
		latin1 = m.enc.latin1
		h := m.MSH()
		recvApp, recvFac = h.Raw(3), h.Raw(4)
		_, event, _ = m.Type()
		ctl = h.Raw(10)
		if p := h.Raw(11); p != "" {
			procID = p
		}
		if v := h.Raw(12); v != "" {
			version = v
		}
		charset = h.Raw(18)
	}
	ver := version
	if m != nil {
		ver = m.Version()
	}
	t := a.Time
	if t.IsZero() {
		t = time.Now()
	}
	fs, cs, ss := string(d.Field), string(d.Component), string(d.Subcomponent)
	typ := "ACK"
	if event != "" {
		typ = "ACK" + cs + d.escape(event) + cs + "ACK"
	}
	var b strings.Builder
	msh := []string{
		"MSH", string([]byte{d.Component, d.Repetition, d.Escape, d.Subcomponent}),
		d.escape(a.App), d.escape(a.Facility), recvApp, recvFac,
		t.Format("20060102150405-0700"), "", typ, d.escape(a.ControlID), procID, version,
	}
	if charset != "" {
		msh = append(msh, "", "", "", "", "", "", charset)
	}
	b.WriteString(strings.Join(msh, fs))
	b.WriteByte('\r')
	msa := []string{"MSA", string(a.Code), ctl}
	if a.Code != AA && a.Text != "" {
		msa = append(msa, d.escape(truncate(a.Text, 80)))
	}
	b.WriteString(strings.Join(msa, fs))
	b.WriteByte('\r')
	if a.Code != AA {
		code := a.Error
		if code == 0 {
			code = CodeInternal
		}
		c := strconv.Itoa(int(code))
		var loc string
		if a.Segment != "" {
			loc = a.Segment + cs + "1"
			if a.Field > 0 {
				loc += cs + strconv.Itoa(a.Field)
			}
		}
		var err1 string
		if versionLess(ver, "2.5") {
			// ERR-1 (ELD): segment^sequence^field position^code&text&HL70357.
			seq, field := "", ""
			if a.Segment != "" {
				seq = "1"
			}
			if a.Field > 0 {
				field = strconv.Itoa(a.Field)
			}
			err1 = a.Segment + cs + seq + cs + field + cs + c + ss + d.escape(code.String()) + ss + "HL70357"
		}
		err := []string{"ERR", err1, loc, c + cs + d.escape(code.String()) + cs + "HL70357", "E"}
		if !versionLess(ver, "2.5") && a.Text != "" {
			err = append(err, "", "", "", d.escape(truncate(a.Text, 250)))
		}
		b.WriteString(strings.Join(err, fs))
		b.WriteByte('\r')
	}
	if latin1 {
		return utf8ToLatin1(b.String())
	}
	return []byte(b.String())
}

// utf8ToLatin1 encodes s in ISO 8859-1 ('?' for what it cannot hold).
func utf8ToLatin1(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			r = '?'
		}
		out = append(out, byte(r))
	}
	return out
}

// versionLess reports whether version a is before b ("2.3.1" < "2.5");
// an unreadable a counts as before.
func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y int
		var err error
		if i < len(pa) {
			if x, err = strconv.Atoi(pa[i]); err != nil {
				return true
			}
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// AckCodeOf returns MSA-1 of an ACK (as BuildACK makes them), "" when it
// has none.
func AckCodeOf(ack []byte) AckCode {
	m, err := Parse(ack)
	if err != nil {
		return ""
	}
	if s := m.Segment("MSA"); s != nil {
		return AckCode(s.Field(1))
	}
	return ""
}
