package charset

import (
	"fmt"
	"strings"
	"unicode/utf8"

	errkind "github.com/minipacs/minipacs/dicomweb/kind"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// ErrUnknownTerm is wrapped by New's error when a Specific Character Set
// term is not one of the defined terms (PS3.3 C.12.1.1.2) nor a common
// misspelling of one.
var ErrUnknownTerm = errkind.New(errkind.Unsupported, "unknown Specific Character Set term")

// kind is the kind of a graphic character set designated to G0 or G1.
type kind uint8

const (
	kNone     kind = iota
	kASCII         // ISO-IR 6 (G0)
	kRomaji        // JIS X 0201 Romaji, ISO-IR 14 (G0); read as ASCII
	kKatakana      // JIS X 0201 Katakana, ISO-IR 13 (G1, or G0 via ESC ( I)
	kSingle        // a 96-character set of ISO 8859 / TIS 620 (G1)
	kJIS0208       // JIS X 0208, ISO-IR 87 (G0, 94x94)
	kJIS0212       // JIS X 0212, ISO-IR 159 (G0, 94x94)
	kKSX1001       // KS X 1001, ISO-IR 149 (G1, 94x94)
	kGB2312        // GB 2312, ISO-IR 58 (G1, 94x94)
)

// codeSet is one designated character set.
type codeSet struct {
	kind kind
	cm   *charmap.Charmap // for kSingle
}

// multi reports whether the set is a two-byte (94x94) set.
func (c codeSet) multi() bool { return c.kind >= kJIS0208 }

// mode is how a Decoder reads bytes.
type mode uint8

const (
	modeDefault mode = iota // default repertoire
	modeISO                 // single-byte sets and ISO 2022 code extensions
	modeUTF8                // ISO_IR 192
	modeWhole               // GB18030, GBK: a stand-alone multi-byte decoder
)

// Decoder decodes string values of one data set. The zero value is not
// usable; build one with New. A Decoder is immutable and safe for
// concurrent use.
type Decoder struct {
	mode  mode
	whole encoding.Encoding // modeWhole
	// ext is true when ISO 2022 escape sequences are interpreted.
	ext bool
	// g0, g1 are the initial designations, restored at each delimiter.
	g0, g1 codeSet
	// fallbackG1 reads high bytes met while no G1 set is designated: the
	// first G1 set named by the extension terms (writers that omit the
	// escape sequence), else ISO 8859-1.
	fallbackG1 codeSet
	terms      []string
	warning    string
}

// termInfo describes one defined term.
type termInfo struct {
	g0, g1 codeSet
	// standalone is true for the sets that allow no code extensions.
	standalone bool
	mode       mode
	whole      encoding.Encoding
	canonical  string // spelling without code extensions ("ISO_IR 100")
	canonExt   string // spelling with code extensions ("ISO 2022 IR 100")
}

var ascii = codeSet{kind: kASCII}

// singleByte maps the ISO-IR registration number of each 96-character set
// to its code table, and the final byte of its G1 escape sequence ESC - F.
var singleByte = []struct {
	ir    string
	final byte
	cm    *charmap.Charmap
}{
	{"100", 'A', charmap.ISO8859_1},
	{"101", 'B', charmap.ISO8859_2},
	{"109", 'C', charmap.ISO8859_3},
	{"110", 'D', charmap.ISO8859_4},
	{"144", 'L', charmap.ISO8859_5},
	{"127", 'G', charmap.ISO8859_6},
	{"126", 'F', charmap.ISO8859_7},
	{"138", 'H', charmap.ISO8859_8},
	{"148", 'M', charmap.ISO8859_9},
	{"203", 'b', charmap.ISO8859_15},
	// TIS 620-2533 is Windows-874 without its 0x80-0x9F additions, which
	// decodeSingle maps to C1 controls for every set.
	{"166", 'T', charmap.Windows874},
}

// terms maps normalised terms (upper case, without spaces, '_' and '-')
// to their description.
var terms = func() map[string]termInfo {
	m := map[string]termInfo{
		"":           {g0: ascii, mode: modeISO, canonical: "", canonExt: ""},
		"ISOIR6":     {g0: ascii, mode: modeISO, canonical: "ISO_IR 6", canonExt: "ISO 2022 IR 6"},
		"ISO2022IR6": {g0: ascii, mode: modeISO, canonical: "ISO_IR 6", canonExt: "ISO 2022 IR 6"},
		"ISOIR13": {g0: codeSet{kind: kRomaji}, g1: codeSet{kind: kKatakana}, mode: modeISO,
			canonical: "ISO_IR 13", canonExt: "ISO 2022 IR 13"},
		"ISO2022IR13": {g0: codeSet{kind: kRomaji}, g1: codeSet{kind: kKatakana}, mode: modeISO,
			canonical: "ISO_IR 13", canonExt: "ISO 2022 IR 13"},
		"ISO2022IR87":  {g0: codeSet{kind: kJIS0208}, mode: modeISO, canonExt: "ISO 2022 IR 87"},
		"ISO2022IR159": {g0: codeSet{kind: kJIS0212}, mode: modeISO, canonExt: "ISO 2022 IR 159"},
		"ISO2022IR149": {g1: codeSet{kind: kKSX1001}, mode: modeISO, canonExt: "ISO 2022 IR 149"},
		"ISO2022IR58":  {g1: codeSet{kind: kGB2312}, mode: modeISO, canonExt: "ISO 2022 IR 58"},
		"ISOIR192":     {standalone: true, mode: modeUTF8, canonical: "ISO_IR 192"},
		"UTF8":         {standalone: true, mode: modeUTF8, canonical: "ISO_IR 192"},
		"GB18030": {standalone: true, mode: modeWhole, whole: simplifiedchinese.GB18030,
			canonical: "GB18030"},
		"GBK": {standalone: true, mode: modeWhole, whole: simplifiedchinese.GBK, canonical: "GBK"},
	}
	for _, s := range singleByte {
		ti := termInfo{g0: ascii, g1: codeSet{kind: kSingle, cm: s.cm}, mode: modeISO,
			canonical: "ISO_IR " + s.ir, canonExt: "ISO 2022 IR " + s.ir}
		m["ISOIR"+s.ir] = ti
		m["ISO2022IR"+s.ir] = ti
	}
	return m
}()

// normalise reduces a term to the key of the terms table.
func normalise(t string) string {
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == ' ' || c == '_' || c == '-' || c == 0:
		case c >= 'a' && c <= 'z':
			b.WriteByte(c - 'a' + 'A')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// ParseTerms splits the raw value of Specific Character Set (0008,0005) on
// backslashes and trims the padding of each term. Value 1 may be empty.
func ParseTerms(raw []byte) []string {
	s := strings.TrimRight(string(raw), " \x00")
	if s == "" {
		return nil
	}
	parts := strings.Split(s, `\`)
	for i, p := range parts {
		parts[i] = strings.Trim(p, " \x00")
	}
	return parts
}

// New builds a Decoder for the values of Specific Character Set
// (0008,0005). nil or a single empty term is the default repertoire.
//
// New always returns a usable Decoder. Its error is non-nil (wrapping
// ErrUnknownTerm) when a term is unknown; such a term is ignored, which
// for value 1 means the default repertoire. Misspelled known terms
// ("ISO_IR100", "ISO-IR 144") and extensions that the set of value 1 does
// not allow are accepted or ignored and only noted in Warning.
func New(specificCharacterSet []string) (*Decoder, error) {
	d := &Decoder{mode: modeDefault, g0: ascii, terms: specificCharacterSet}
	var warns, unknown []string
	if len(specificCharacterSet) == 0 ||
		(len(specificCharacterSet) == 1 && strings.TrimSpace(specificCharacterSet[0]) == "") {
		return d, nil
	}
	lookup := func(t string) (termInfo, bool) {
		ti, ok := terms[normalise(t)]
		if !ok {
			unknown = append(unknown, t)
		}
		return ti, ok
	}
	first := strings.TrimSpace(specificCharacterSet[0])
	ti, ok := lookup(first)
	ext := len(specificCharacterSet) > 1 || strings.HasPrefix(normalise(first), "ISO2022")
	switch {
	case !ok:
		// Default repertoire, as if value 1 were empty.
	case ti.standalone:
		d.mode = ti.mode
		d.whole = ti.whole
		if first != ti.canonical {
			warns = append(warns, fmt.Sprintf("nonstandard term %q read as %q", first, ti.canonical))
		}
		if len(specificCharacterSet) > 1 {
			warns = append(warns, fmt.Sprintf("%q allows no code extensions; ignored %q",
				ti.canonical, strings.Join(specificCharacterSet[1:], `\`)))
		}
		d.warning = strings.Join(warns, "; ")
		return d, nil
	default:
		d.mode = modeISO
		want := ti.canonical
		if ext {
			want = ti.canonExt
		}
		if first != want && first != "" {
			warns = append(warns, fmt.Sprintf("nonstandard term %q read as %q", first, want))
		}
		// Multi-byte sets cannot be value 1; if one is, keep ASCII in G0
		// and let a G1 multi-byte set be the initial G1.
		if !ti.g0.multi() && ti.g0.kind != kNone {
			d.g0 = ti.g0
		}
		d.g1 = ti.g1
	}
	if ext {
		d.mode = modeISO
		d.ext = true
		for _, t := range specificCharacterSet[1:] {
			t = strings.TrimSpace(t)
			eti, ok := lookup(t)
			if !ok {
				continue
			}
			if eti.standalone {
				warns = append(warns, fmt.Sprintf("%q cannot be a code extension; ignored", t))
				continue
			}
			if t != eti.canonExt {
				warns = append(warns, fmt.Sprintf("nonstandard term %q read as %q", t, eti.canonExt))
			}
			if d.fallbackG1.kind == kNone && eti.g1.kind != kNone {
				d.fallbackG1 = eti.g1
			}
		}
	}
	var err error
	if len(unknown) > 0 {
		err = fmt.Errorf("charset.New: %w: %q (using the default repertoire)", ErrUnknownTerm, unknown)
		warns = append(warns, err.Error())
	}
	d.warning = strings.Join(warns, "; ")
	return d, err
}

// Default is the decoder for the default repertoire.
func Default() *Decoder { return &Decoder{mode: modeDefault, g0: ascii} }

// Warning describes the problems found in the Specific Character Set
// (unknown or misspelled terms, ignored extensions); "" when there are none.
func (d *Decoder) Warning() string { return d.warning }

// Terms returns the Specific Character Set values the Decoder was built from.
func (d *Decoder) Terms() []string { return d.terms }

// Affected reports whether values of the VR are subject to Specific
// Character Set (PS3.5 §6.1.2.3): SH, LO, UC, ST, LT, UT and PN.
func Affected(vr string) bool {
	switch vr {
	case "SH", "LO", "UC", "ST", "LT", "UT", "PN":
		return true
	}
	return false
}

// Decode returns the UTF-8 form of the raw value field of an element with
// the VR vr (all its values, delimiters and padding included). Bytes that
// cannot be decoded become U+FFFD; the result is always valid UTF-8.
func (d *Decoder) Decode(vr string, raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	return string(d.AppendDecode(make([]byte, 0, len(raw)+len(raw)/2), vr, raw))
}

// AppendDecode is Decode appending to dst; it allocates nothing when dst
// has room and the value is ASCII.
func (d *Decoder) AppendDecode(dst []byte, vr string, raw []byte) []byte {
	if len(raw) == 0 {
		return dst
	}
	if d == nil || !Affected(vr) {
		return appendDefault(dst, raw)
	}
	switch d.mode {
	case modeUTF8:
		return appendUTF8(dst, raw)
	case modeWhole:
		if isASCII(raw) {
			return append(dst, raw...)
		}
		out, err := d.whole.NewDecoder().Bytes(raw)
		if err != nil || !utf8.Valid(out) {
			return appendLatin1(dst, raw)
		}
		return append(dst, out...)
	case modeISO:
		if isASCII(raw) && (!d.ext || !hasESC(raw)) && d.g0.kind != kKatakana {
			return append(dst, raw...)
		}
		return d.decodeISO(dst, raw, vr == "PN")
	default:
		return appendDefault(dst, raw)
	}
}

// appendDefault reads the default repertoire; high bytes (not allowed
// there, but common) are read as UTF-8 when the value is valid UTF-8, and
// as ISO 8859-1 otherwise.
func appendDefault(dst, raw []byte) []byte {
	if utf8.Valid(raw) {
		return append(dst, raw...)
	}
	return appendLatin1(dst, raw)
}

// appendUTF8 appends raw with each byte that is not part of a valid UTF-8
// sequence replaced by U+FFFD.
func appendUTF8(dst, raw []byte) []byte {
	if utf8.Valid(raw) {
		return append(dst, raw...)
	}
	for len(raw) > 0 {
		r, n := utf8.DecodeRune(raw)
		dst = utf8.AppendRune(dst, r) // RuneError for invalid bytes
		raw = raw[n:]
	}
	return dst
}

func appendLatin1(dst, raw []byte) []byte {
	for _, b := range raw {
		dst = utf8.AppendRune(dst, rune(b))
	}
	return dst
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func hasESC(b []byte) bool {
	for _, c := range b {
		if c == 0x1B {
			return true
		}
	}
	return false
}
