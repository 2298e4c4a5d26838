package hl7

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// Null is the HL7 explicit null (two double quotes): the sender asks that
// the stored value be deleted. Field and Component return it as is.
const Null = `""`

// Delimiters are a message's encoding characters: MSH-1 and MSH-2.
type Delimiters struct {
	Field, Component, Repetition, Escape, Subcomponent byte
}

// DefaultDelimiters are the usual ones: |^~\&.
var DefaultDelimiters = Delimiters{'|', '^', '~', '\\', '&'}

// encoding is what decoding a value needs: the delimiters and how \Xhh\
// bytes are to be read.
type encoding struct {
	Delimiters
	latin1 bool // the message's bytes are ISO 8859-1 (else UTF-8)
}

// Parser parses ER7 messages within limits. The zero Parser uses the
// defaults.
type Parser struct {
	MaxBytes    int // whole message (default 1 MiB)
	MaxSegments int // default 10000
	MaxFields   int // per segment (default 1000)
}

func (p Parser) withDefaults() Parser {
	if p.MaxBytes <= 0 {
		p.MaxBytes = 1 << 20
	}
	if p.MaxSegments <= 0 {
		p.MaxSegments = 10000
	}
	if p.MaxFields <= 0 {
		p.MaxFields = 1000
	}
	return p
}

// Message is a parsed HL7 v2 message. Its text is UTF-8, whatever MSH-18
// declared (see Charset).
type Message struct {
	enc      *encoding
	segments []*Segment
	charset  string // MSH-18 as sent
	fallback bool   // MSH-18 unknown: read as ISO 8859-1
}

// Segment is one segment: its name and fields, kept as sent (escaped)
// and decoded when read.
type Segment struct {
	Name   string
	fields []string // fields[0] is the name; for MSH, fields[1] is MSH-1
	enc    *encoding
}

// Parse parses an ER7 message with the default limits.
func Parse(b []byte) (*Message, error) { return Parser{}.Parse(b) }

// Parse parses an ER7 message. Segments end with CR, LF or CRLF; the
// delimiters are MSH-1 and MSH-2 of the message itself; MSH-18 says the
// character set (ASCII or 8859/1, or UNICODE UTF-8; any other is read as
// 8859/1, see Charset). Errors are *Error with the HL7 error code.
func (p Parser) Parse(b []byte) (*Message, error) {
	m, err := p.parse(b)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// parse is Parse, except that on an error after the MSH segment was read
// it also returns the message with that segment (enough to answer).
func (p Parser) parse(b []byte) (*Message, error) {
	p = p.withDefaults()
	if len(b) > p.MaxBytes {
		return nil, tooLarge(errorf(CodeInternal, "", 0, "message of %d bytes exceeds the limit of %d", len(b), p.MaxBytes))
	}
	b = bytes.TrimLeft(b, "\r\n")
	if len(b) < 8 || string(b[:3]) != "MSH" {
		return nil, errorf(CodeSegmentSequence, "MSH", 0, "the message does not begin with an MSH segment")
	}
	d, err := delimiters(b)
	if err != nil {
		return nil, err
	}
	enc := &encoding{Delimiters: d}
	// The MSH segment is read first, in ASCII (delimiters are ASCII), for
	// MSH-18; then the whole message is decoded to UTF-8.
	end := bytes.IndexAny(b, "\r\n")
	if end < 0 {
		end = len(b)
	}
	msh := &Segment{Name: "MSH", enc: enc, fields: splitMSH(string(b[:end]), d.Field)}
	m := &Message{enc: enc}
	m.charset = msh.Component(18, 1)
	var text string
	switch strings.ToUpper(strings.TrimSpace(m.charset)) {
	case "UNICODE UTF-8", "UTF-8":
		if !utf8.Valid(b) {
			m.segments = []*Segment{msh}
			return m, errorf(CodeDataType, "MSH", 18, "MSH-18 says UNICODE UTF-8 but the message is not valid UTF-8")
		}
		text = string(b)
	case "", "ASCII", "8859/1":
		enc.latin1 = true
		text = latin1ToUTF8(b)
	default:
		enc.latin1 = true
		m.fallback = true
		text = latin1ToUTF8(b)
	}
	for len(text) > 0 {
		i := strings.IndexAny(text, "\r\n")
		var line string
		if i < 0 {
			line, text = text, ""
		} else {
			line, text = text[:i], text[i+1:]
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if len(m.segments) == p.MaxSegments {
			return withMSH(m, msh, tooLarge(errorf(CodeInternal, "", 0, "more than %d segments", p.MaxSegments)))
		}
		seg, err := parseSegment(line, enc, p.MaxFields, len(m.segments) == 0)
		if err != nil {
			return withMSH(m, msh, err)
		}
		if seg.Name == "MSH" && len(m.segments) > 0 {
			return withMSH(m, msh, errorf(CodeSegmentSequence, "MSH", 0, "a second MSH segment (batches are not accepted)"))
		}
		m.segments = append(m.segments, seg)
	}
	if len(m.segments) == 0 {
		return nil, errorf(CodeSegmentSequence, "MSH", 0, "no segments")
	}
	// Required MSH fields.
	for _, f := range []struct {
		i    int
		what string
	}{{9, "message type"}, {10, "message control ID"}, {12, "version ID"}} {
		if m.segments[0].Field(f.i) == "" {
			return m, errorf(CodeRequiredField, "MSH", f.i, "MSH-%d (%s) is missing", f.i, f.what)
		}
	}
	if code, event, _ := m.Type(); code == "" || (event == "" && code != "ACK") {
		return m, errorf(CodeRequiredField, "MSH", 9, "MSH-9 (message type) needs a message code and a trigger event")
	}
	return m, nil
}

// withMSH returns m holding only its MSH segment, and err.
func withMSH(m *Message, msh *Segment, err error) (*Message, error) {
	if len(m.segments) > 0 {
		msh = m.segments[0]
	}
	m.segments = []*Segment{msh}
	return m, err
}

// delimiters reads MSH-1 and MSH-2 from the start of a message.
func delimiters(b []byte) (Delimiters, error) {
	fs := b[3]
	i := bytes.IndexByte(b[4:], fs)
	if i < 0 {
		i = bytes.IndexAny(b[4:], "\r\n")
		if i < 0 {
			i = len(b) - 4
		}
	}
	enc := b[4 : 4+i]
	// 4 characters, or 5 with the truncation character of v2.7 (ignored).
	if len(enc) != 4 && len(enc) != 5 {
		return Delimiters{}, errorf(CodeDataType, "MSH", 2, "MSH-2 (encoding characters) has %d characters, want 4", len(enc))
	}
	all := append([]byte{fs}, enc...)
	for j, c := range all {
		if c < 0x21 || c > 0x7e || isAlnum(c) {
			return Delimiters{}, errorf(CodeDataType, "MSH", 2, "invalid delimiter %q in MSH-1/MSH-2", c)
		}
		if bytes.IndexByte(all[:j], c) >= 0 {
			return Delimiters{}, errorf(CodeDataType, "MSH", 2, "delimiter %q used twice in MSH-1/MSH-2", c)
		}
	}
	return Delimiters{Field: fs, Component: enc[0], Repetition: enc[1], Escape: enc[2], Subcomponent: enc[3]}, nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// splitMSH splits an MSH segment so that fields[i] is MSH-i.
func splitMSH(line string, fs byte) []string {
	parts := strings.Split(line, string(fs))
	return append([]string{"MSH", string(fs)}, parts[1:]...)
}

func parseSegment(line string, enc *encoding, maxFields int, first bool) (*Segment, error) {
	if len(line) < 3 {
		return nil, errorf(CodeSegmentSequence, "", 0, "segment %q: too short", line)
	}
	name := line[:3]
	for i := range 3 {
		if c := name[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return nil, errorf(CodeSegmentSequence, "", 0, "segment %q: invalid segment name", truncate(line, 20))
		}
	}
	if len(line) > 3 && line[3] != enc.Field {
		return nil, errorf(CodeSegmentSequence, name, 0, "segment %s: name not followed by the field separator", name)
	}
	if first && name != "MSH" {
		return nil, errorf(CodeSegmentSequence, name, 0, "the message does not begin with an MSH segment")
	}
	if n := strings.Count(line, string(enc.Field)); n > maxFields {
		return nil, tooLarge(errorf(CodeInternal, name, 0, "segment %s has %d fields, more than %d", name, n, maxFields))
	}
	s := &Segment{Name: name, enc: enc}
	if name == "MSH" {
		s.fields = splitMSH(line, enc.Field)
	} else {
		s.fields = strings.Split(line, string(enc.Field))
	}
	return s, nil
}

func latin1ToUTF8(b []byte) string {
	ascii := true
	for _, c := range b {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// Delimiters returns the message's encoding characters.
func (m *Message) Delimiters() Delimiters { return m.enc.Delimiters }

// Charset returns MSH-18 as sent, and whether it named a character set
// that is not supported and was read as ISO 8859-1 instead.
func (m *Message) Charset() (declared string, fallback bool) { return m.charset, m.fallback }

// MSH returns the message header.
func (m *Message) MSH() *Segment { return m.segments[0] }

// All returns every segment in order.
func (m *Message) All() []*Segment { return m.segments }

// Segments returns the segments named name, in order.
func (m *Message) Segments(name string) []*Segment {
	var out []*Segment
	for _, s := range m.segments {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// Segment returns the first segment named name, or nil.
func (m *Message) Segment(name string) *Segment {
	for _, s := range m.segments {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Type returns MSH-9: message code (ADT), trigger event (A01) and message
// structure (ADT_A01, often empty before v2.3.1).
func (m *Message) Type() (code, event, structure string) {
	h := m.MSH()
	return h.Component(9, 1), h.Component(9, 2), h.Component(9, 3)
}

// ControlID returns MSH-10.
func (m *Message) ControlID() string { return m.MSH().Field(10) }

// Sender returns the sending application (MSH-3) and facility (MSH-4):
// their namespace IDs, or their universal IDs when those are empty.
func (m *Message) Sender() (app, facility string) {
	return hd(m.MSH(), 3), hd(m.MSH(), 4)
}

// Receiver returns the receiving application (MSH-5) and facility
// (MSH-6), like Sender.
func (m *Message) Receiver() (app, facility string) {
	return hd(m.MSH(), 5), hd(m.MSH(), 6)
}

func hd(s *Segment, i int) string {
	if v := s.Component(i, 1); v != "" {
		return v
	}
	return s.Component(i, 2)
}

// Version returns MSH-12 (its version ID component): "2.3", "2.5.1"...
func (m *Message) Version() string { return m.MSH().Component(12, 1) }

// ProcessingID returns MSH-11 (P, D or T).
func (m *Message) ProcessingID() string { return m.MSH().Component(11, 1) }

// Raw returns field i as sent: escaped, every repetition, "" when absent.
// Raw(0) is the segment name; for MSH, Raw(1) and Raw(2) are the
// delimiters.
func (s *Segment) Raw(i int) string {
	if i < 0 || i >= len(s.fields) {
		return ""
	}
	return s.fields[i]
}

// NumFields returns the number of the last field present.
func (s *Segment) NumFields() int { return len(s.fields) - 1 }

// Repetitions returns the repetitions of field i (none when it is empty).
func (s *Segment) Repetitions(i int) []Repetition {
	raw := s.Raw(i)
	if raw == "" {
		return nil
	}
	if s.Name == "MSH" && i <= 2 {
		return []Repetition{{raw: raw, enc: s.enc, literal: true}}
	}
	parts := strings.Split(raw, string(s.enc.Repetition))
	out := make([]Repetition, len(parts))
	for j, p := range parts {
		out[j] = Repetition{raw: p, enc: s.enc}
	}
	return out
}

func (s *Segment) first(i int) Repetition {
	raw := s.Raw(i)
	if s.Name == "MSH" && i <= 2 {
		return Repetition{raw: raw, enc: s.enc, literal: true}
	}
	raw, _, _ = strings.Cut(raw, string(s.enc.Repetition))
	return Repetition{raw: raw, enc: s.enc}
}

// Field returns the first repetition of field i, escapes decoded. For a
// field with components, an escaped delimiter and a real one look the
// same: use Component.
func (s *Segment) Field(i int) string { return s.first(i).Text() }

// Component returns component c (from 1) of the first repetition of
// field i, escapes decoded.
func (s *Segment) Component(i, c int) string { return s.first(i).Component(c) }

// Subcomponent returns subcomponent sc of component c of the first
// repetition of field i, escapes decoded.
func (s *Segment) Subcomponent(i, c, sc int) string { return s.first(i).Subcomponent(c, sc) }

// Repetition is one repetition of a field.
type Repetition struct {
	raw     string
	enc     *encoding
	literal bool // MSH-1, MSH-2: no delimiters, no escapes
}

// Raw returns the repetition as sent.
func (r Repetition) Raw() string { return r.raw }

// Text returns the whole repetition, escapes decoded.
func (r Repetition) Text() string {
	if r.literal {
		return r.raw
	}
	return r.enc.unescape(r.raw)
}

// Component returns component c (from 1), escapes decoded.
func (r Repetition) Component(c int) string {
	if r.literal {
		if c == 1 {
			return r.raw
		}
		return ""
	}
	return r.enc.unescape(nth(r.raw, r.enc.Component, c))
}

// Subcomponent returns subcomponent sc of component c, escapes decoded.
func (r Repetition) Subcomponent(c, sc int) string {
	if r.literal {
		return ""
	}
	return r.enc.unescape(nth(nth(r.raw, r.enc.Component, c), r.enc.Subcomponent, sc))
}

// nth returns the n-th (from 1) part of s split at sep.
func nth(s string, sep byte, n int) string {
	if n < 1 {
		return ""
	}
	for ; n > 1; n-- {
		i := strings.IndexByte(s, sep)
		if i < 0 {
			return ""
		}
		s = s[i+1:]
	}
	if i := strings.IndexByte(s, sep); i >= 0 {
		s = s[:i]
	}
	return s
}

// unescape decodes the escape sequences of a value: \F\ \S\ \T\ \R\ \E\,
// \.br\ (a line feed), \Xhh..\ (bytes in the message's character set);
// the highlighting and other formatting sequences are dropped; an
// unterminated or unknown sequence is kept as is.
func (e *encoding) unescape(s string) string {
	esc := e.Escape
	if strings.IndexByte(s, esc) < 0 {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, esc)
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		rest := s[i+1:]
		j := strings.IndexByte(rest, esc)
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		seq := rest[:j]
		s = rest[j+1:]
		switch {
		case seq == "F":
			b.WriteByte(e.Field)
		case seq == "S":
			b.WriteByte(e.Component)
		case seq == "T":
			b.WriteByte(e.Subcomponent)
		case seq == "R":
			b.WriteByte(e.Repetition)
		case seq == "E":
			b.WriteByte(esc)
		case seq == ".br":
			b.WriteByte('\n')
		case seq == "H" || seq == "N" || strings.HasPrefix(seq, ".") && len(seq) <= 5:
			// Highlighting and formatting: dropped.
		case len(seq) > 1 && seq[0] == 'X' && len(seq)%2 == 1 && isHex(seq[1:]):
			raw := make([]byte, 0, len(seq)/2)
			for k := 1; k < len(seq); k += 2 {
				raw = append(raw, unhex(seq[k])<<4|unhex(seq[k+1]))
			}
			if e.latin1 {
				b.WriteString(latin1ToUTF8(raw))
			} else {
				b.WriteString(strings.ToValidUTF8(string(raw), "\uFFFD"))
			}
		default:
			b.WriteByte(esc)
			b.WriteString(seq)
			b.WriteByte(esc)
		}
	}
	return b.String()
}

// escape encodes a text for a field: delimiters become escape sequences,
// line breaks \.br\.
func (d Delimiters) escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case d.Field:
			b.WriteString(string(d.Escape) + "F" + string(d.Escape))
		case d.Component:
			b.WriteString(string(d.Escape) + "S" + string(d.Escape))
		case d.Subcomponent:
			b.WriteString(string(d.Escape) + "T" + string(d.Escape))
		case d.Repetition:
			b.WriteString(string(d.Escape) + "R" + string(d.Escape))
		case d.Escape:
			b.WriteString(string(d.Escape) + "E" + string(d.Escape))
		case '\r':
		case '\n':
			b.WriteString(string(d.Escape) + ".br" + string(d.Escape))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// truncate cuts s to n characters.
func truncate(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// String returns the message in ER7 with CR after each segment (the text
// as parsed, decoded to UTF-8).
func (m *Message) String() string {
	var b strings.Builder
	for _, s := range m.segments {
		if s.Name == "MSH" {
			b.WriteString("MSH" + s.fields[1])
			b.WriteString(strings.Join(s.fields[2:], s.fields[1]))
		} else {
			b.WriteString(strings.Join(s.fields, string(m.enc.Field)))
		}
		b.WriteByte('\r')
	}
	return b.String()
}
