// Package jsonstr is the one JSON string writer of minipacs: the DICOM JSON
// encoder (dicomjson), the index (computed attributes of QIDO-RS results)
// and the DICOMweb handlers all write strings through Append, so the same
// value is written as the same bytes everywhere.
//
// Append writes what encoding/json would decode back to the value, with
// these choices: '"' and '\' escaped; '\n', '\r' and '\t' as short
// escapes and every other control character (U+0000 to U+001F, '\b' and
// '\f' included) as \u00XX; DEL (0x7F) and all other code points as they
// are, except U+2028 and U+2029, escaped as \u2028 and \u2029 (line
// terminators in JavaScript); each byte of an invalid UTF-8 sequence
// replaced by the escape \ufffd. Unlike encoding/json it does not escape
// '<', '>' and '&' (HTML), and it writes \u0008, \u000c and \ufffd where
// encoding/json writes \b, \f and the raw bytes of U+FFFD.
package jsonstr

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// safe[b] is true for ASCII bytes that need no escaping in a JSON string.
var safe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// Append appends s as a JSON string (see the package comment for the
// escapes) to dst and returns the extended slice. It never fails: every
// byte string, valid UTF-8 or not, gives a valid JSON string.
func Append[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if safe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		var buf [utf8.UTFMax]byte
		k := copy(buf[:], s[i:min(i+utf8.UTFMax, len(s))])
		r, n := utf8.DecodeRune(buf[:k])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += n
			start = i
			continue
		}
		i += n
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
