package jsonstr

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestAppend pins the bytes Append writes: the DICOM JSON golden files
// (dicomjson) and the index's computed attributes depend on them. The
// comments give what the escapers Append replaced wrote where they differ:
// "index" the index's appendJSONString, "json" encoding/json.Marshal (the
// STOW-RS response's writeJSONString); all decode to the same value, except
// the index's raw invalid UTF-8, which was not valid JSON.
func TestAppend(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{"1.2.840.10008.5.1.4.1.1.2", `"1.2.840.10008.5.1.4.1.1.2"`},
		{"quote\"back\\slash", `"quote\"back\\slash"`},
		{"\x00\x1f\x7f\n\r\t", `"\u0000\u001f` + "\x7f" + `\n\r\t"`}, // index: \u000a\u000d\u0009
		{"\b\f", `"\u0008\u000c"`},                                   // json: \b\f
		{"\x01\x0b\x1b", `"\u0001\u000b\u001b"`},
		{"<a&b>", `"<a&b>"`}, // json: \u003ca\u0026b\u003e
		{"/", `"/"`},
		{"é中😀", `"é中😀"`},
		{"\u0080\u07ff\u0800\uffff\U00010000\U0010ffff", "\"\u0080\u07ff\u0800\uffff\U00010000\U0010ffff\""},
		{"\ufffd", "\"\ufffd\""},                           // a valid U+FFFD stays as it is
		{"bad\xff\xfe", `"bad\ufffd\ufffd"`},               // index: raw bytes; json: raw U+FFFD bytes
		{"cut\xe2\x80", `"cut\ufffd\ufffd"`},               // one per byte of the sequence
		{"\xe2\x80x", `"\ufffd\ufffdx"`},                   // cut in the middle
		{"\xc0\xaf", `"\ufffd\ufffd"`},                     // overlong '/'
		{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},           // UTF-8 of a surrogate
		{"\xf4\x90\x80\x80", `"\ufffd\ufffd\ufffd\ufffd"`}, // above U+10FFFF
		{"\x80", `"\ufffd"`},
		{"\u2028\u2029", `"\u2028\u2029"`}, // index: raw
		{"a\u2028b\u2027\u202a", "\"a\\u2028b\u2027\u202a\""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := Append(nil, tt.in)
			if string(got) != tt.want {
				t.Errorf("Append(%q) = %s, want %s", tt.in, got, tt.want)
			}
			if b := Append(nil, []byte(tt.in)); string(b) != tt.want {
				t.Errorf("Append([]byte %q) = %s", tt.in, b)
			}
			if b := Append([]byte("x"), tt.in); string(b) != "x"+tt.want {
				t.Errorf("Append to %q = %s", "x", b)
			}
			var back string
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("%s: %v", got, err)
			}
			if back != perByte(tt.in) {
				t.Errorf("round trip %q -> %q", tt.in, back)
			}
		})
	}
}

// perByte is s with each byte of an invalid UTF-8 sequence replaced by
// U+FFFD, as encoding/json and Append do.
func perByte(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

// FuzzAppend checks Append against encoding/json: valid JSON, valid UTF-8
// without control characters or U+2028/U+2029, decoding to what
// encoding/json's own encoding decodes to.
func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\x00\b\f\n\r\t\x1f\x7f", "<&>", "é\xff\xe2\x80\u2028\u2029😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Append(nil, s)
		if !json.Valid(got) || !utf8.Valid(got) {
			t.Fatalf("Append(%q) = %q: not valid JSON in UTF-8", s, got)
		}
		if bytes.ContainsFunc(got, func(r rune) bool { return r < 0x20 || r == '\u2028' || r == '\u2029' }) {
			t.Fatalf("Append(%q) = %q: unescaped control or line separator", s, got)
		}
		var back, want string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		ref, _ := json.Marshal(s)
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if back != want || back != perByte(s) {
			t.Fatalf("Append(%q) decodes to %q, encoding/json to %q", s, back, want)
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	for _, s := range []string{"1.2.840.10008.5.1.4.1.1.2", "Müller^Jürgen", strings.Repeat("long ascii text ", 16)} {
		b.Run(strings.Fields(s)[0], func(b *testing.B) {
			var buf []byte
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				buf = Append(buf[:0], s)
			}
		})
	}
}
