package charset

import (
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// parseEscape reads an ISO 2022 escape sequence at the start of b (b[0] is
// ESC). It returns the designated set, the register (0 for G0, 1 for G1)
// and the sequence length; n is 0 when the sequence is not one DICOM uses.
func parseEscape(b []byte) (cs codeSet, g int, n int) {
	if len(b) < 3 {
		return codeSet{}, 0, 0
	}
	switch b[1] {
	case '(': // 94-character set to G0
		switch b[2] {
		case 'B':
			return ascii, 0, 3
		case 'J':
			return codeSet{kind: kRomaji}, 0, 3
		case 'I':
			return codeSet{kind: kKatakana}, 0, 3
		}
	case ')': // 94-character set to G1
		switch b[2] {
		case 'I':
			return codeSet{kind: kKatakana}, 1, 3
		}
	case '-': // 96-character set to G1
		for _, s := range singleByte {
			if s.final == b[2] {
				return codeSet{kind: kSingle, cm: s.cm}, 1, 3
			}
		}
	case '$': // multi-byte sets
		switch b[2] {
		case 'B', '@':
			return codeSet{kind: kJIS0208}, 0, 3
		case 'A':
			return codeSet{kind: kGB2312}, 0, 3
		case '(', ')':
			if len(b) < 4 {
				return codeSet{}, 0, 0
			}
			g = 0
			if b[2] == ')' {
				g = 1
			}
			switch b[3] {
			case 'B', '@':
				return codeSet{kind: kJIS0208}, g, 4
			case 'D':
				return codeSet{kind: kJIS0212}, g, 4
			case 'C':
				return codeSet{kind: kKSX1001}, g, 4
			case 'A':
				return codeSet{kind: kGB2312}, g, 4
			}
		}
	}
	return codeSet{}, 0, 0
}

// family groups the two-byte sets by the EUC decoder that reads them.
func family(k kind) encoding.Encoding {
	switch k {
	case kJIS0208, kJIS0212:
		return japanese.EUCJP
	case kKSX1001:
		return korean.EUCKR
	case kGB2312:
		return simplifiedchinese.GBK
	}
	return nil
}

// isoState decodes one value field in modeISO.
type isoState struct {
	out []byte
	// run collects consecutive two-byte characters of one family in EUC
	// form, decoded together by flush.
	run    []byte
	runEnc encoding.Encoding
}

func (s *isoState) flush() {
	if len(s.run) == 0 {
		return
	}
	dec, err := s.runEnc.NewDecoder().Bytes(s.run)
	if err != nil || !utf8.Valid(dec) {
		for i := 0; i < len(s.run); i += 2 {
			s.out = utf8.AppendRune(s.out, utf8.RuneError)
		}
	} else {
		s.out = append(s.out, dec...)
	}
	s.run = s.run[:0]
}

// addPair adds a two-byte character (7-bit or 8-bit form) of set cs.
func (s *isoState) addPair(cs codeSet, b1, b2 byte) {
	enc := family(cs.kind)
	if s.runEnc != enc {
		s.flush()
		s.runEnc = enc
	}
	if cs.kind == kJIS0212 {
		s.run = append(s.run, 0x8F) // SS3 in EUC-JP
	}
	s.run = append(s.run, b1|0x80, b2|0x80)
}

func (s *isoState) addRune(r rune) {
	s.flush()
	s.out = utf8.AppendRune(s.out, r)
}

func (s *isoState) addByte(b byte) {
	s.flush()
	s.out = append(s.out, b)
}

// decodeISO decodes raw with G0/G1 designations, the ISO 2022 escape
// sequences when d.ext, and the resets of PS3.5 §6.1.2.5.3.
func (d *Decoder) decodeISO(dst, raw []byte, pn bool) []byte {
	s := isoState{out: dst}
	g0, g1 := d.g0, d.g1
	for i := 0; i < len(raw); {
		b := raw[i]
		if b == 0x1B && d.ext {
			if cs, g, n := parseEscape(raw[i:]); n > 0 {
				if g == 0 {
					g0 = cs
				} else {
					g1 = cs
				}
				i += n
				continue
			}
			// An escape sequence DICOM does not use: kept as it is.
		}
		if b < 0x80 {
			if g0.multi() && b >= 0x21 && b <= 0x7E {
				if i+1 < len(raw) && raw[i+1] >= 0x21 && raw[i+1] <= 0x7E {
					s.addPair(g0, b, raw[i+1])
					i += 2
				} else {
					s.addRune(utf8.RuneError)
					i++
				}
				continue
			}
			if g0.kind == kKatakana && b >= 0x21 && b <= 0x5F {
				s.addRune(0xFF61 + rune(b-0x21))
				i++
				continue
			}
			s.addByte(b)
			// Delimiters restore the initial designations.
			switch b {
			case '\\', '\r', '\n', '\f', '\t':
				g0, g1 = d.g0, d.g1
			case '^', '=':
				if pn {
					g0, g1 = d.g0, d.g1
				}
			}
			i++
			continue
		}
		cs := g1
		if cs.kind == kNone {
			cs = d.fallbackG1
		}
		switch {
		case cs.multi():
			if b >= 0xA1 && b <= 0xFE && i+1 < len(raw) && raw[i+1] >= 0xA1 && raw[i+1] <= 0xFE {
				s.addPair(cs, b, raw[i+1])
				i += 2
				continue
			}
			s.addRune(utf8.RuneError)
		case cs.kind == kKatakana:
			if b >= 0xA1 && b <= 0xDF {
				s.addRune(0xFF61 + rune(b-0xA1))
			} else {
				s.addRune(utf8.RuneError)
			}
		case cs.kind == kSingle:
			if b < 0xA0 {
				s.addRune(rune(b)) // C1 controls
			} else {
				s.addRune(cs.cm.DecodeByte(b))
			}
		default:
			s.addRune(rune(b)) // ISO 8859-1
		}
		i++
	}
	s.flush()
	return s.out
}
