package dcmwriter

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

func TestPutRejects(t *testing.T) {
	tests := []struct {
		name string
		put  func(d *Dataset)
		want string
	}{
		{"uid leading zero", func(d *Dataset) { d.UID(T(8, 0x18), "1.02.3") }, "leading zero"},
		{"uid empty component", func(d *Dataset) { d.UID(T(8, 0x18), "1..3") }, "empty component"},
		{"uid letters", func(d *Dataset) { d.UID(T(8, 0x18), "1.2.a") }, "not allowed"},
		{"uid too long", func(d *Dataset) { d.UID(T(8, 0x18), "1."+strings.Repeat("1", 63)) }, "exceed"},
		{"cs lower case", func(d *Dataset) { d.Strings(T(8, 0x60), "CS", "ct") }, "not allowed"},
		{"cs too long", func(d *Dataset) { d.Strings(T(8, 0x60), "CS", strings.Repeat("A", 17)) }, "exceed"},
		{"lo non latin1", func(d *Dataset) { d.Strings(T(8, 0x70), "LO", "Tomáš") }, "not in the character set"},
		{"accent in CS", func(d *Dataset) { d.Strings(T(8, 0x60), "CS", "É") }, "not in the character set"},
		{"backslash in value", func(d *Dataset) { d.Strings(T(8, 0x70), "LO", `a\b`) }, "backslash"},
		{"bad DA", func(d *Dataset) { d.Strings(T(8, 0x20), "DA", "2024-1-1") }, "not allowed"},
		{"short DA", func(d *Dataset) { d.Strings(T(8, 0x20), "DA", "202401") }, "YYYYMMDD"},
		{"odd OW", func(d *Dataset) { d.Binary(T(0x7fe0, 0x10), "OW", []byte{1, 2, 3}) }, "odd length"},
		{"multi ST", func(d *Dataset) { d.Strings(T(8, 0x81), "ST", "a", "b") }, "cannot hold 2 values"},
		{"unknown VR", func(d *Dataset) { d.Strings(T(8, 0x81), "XX", "a") }, "not a string VR"},
		{"PN group too long", func(d *Dataset) { d.Strings(T(0x10, 0x10), "PN", strings.Repeat("A", 65)) }, "exceeds 64"},
		{"short value too long", func(d *Dataset) { d.US(T(0x28, 0x10), make([]uint16, 40000)...) }, "16-bit length"},
		{"control char", func(d *Dataset) { d.Strings(T(0x10, 0x10), "PN", "A\x01B") }, "control character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDataset(Latin1)
			tc.put(d)
			if d.Err() == nil || !strings.Contains(d.Err().Error(), tc.want) {
				t.Fatalf("Err() = %v, want it to contain %q", d.Err(), tc.want)
			}
			var buf bytes.Buffer
			if err := WriteFile(&buf, FileMeta{MediaStorageSOPClassUID: "1.2", MediaStorageSOPInstanceUID: "1.3", ImplementationClassUID: "1.4"}, d); err == nil {
				t.Fatal("WriteFile succeeded on a data set with an error")
			}
		})
	}
}

func TestWriteFileRejects(t *testing.T) {
	okMeta := FileMeta{MediaStorageSOPClassUID: "1.2", MediaStorageSOPInstanceUID: "1.3", ImplementationClassUID: "1.4"}
	tests := []struct {
		name string
		meta FileMeta
		ds   func() *Dataset
		want string
	}{
		{"duplicate", okMeta, func() *Dataset {
			d := NewDataset(ASCII)
			d.Strings(T(8, 0x60), "CS", "CT")
			d.Strings(T(8, 0x60), "CS", "MR")
			return d
		}, "duplicate"},
		{"group 2 in data set", okMeta, func() *Dataset {
			d := NewDataset(ASCII)
			d.UID(T(2, 0x10), "1.2")
			return d
		}, "group 0002"},
		{"meta without class", FileMeta{MediaStorageSOPInstanceUID: "1.3", ImplementationClassUID: "1.4"}, func() *Dataset {
			return NewDataset(ASCII)
		}, "empty UID"},
		{"ascii data set with accent", okMeta, func() *Dataset {
			d := NewDataset(ASCII)
			d.Strings(T(0x10, 0x10), "PN", "Müller")
			return d
		}, "not in the character set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteFile(&bytes.Buffer{}, tc.meta, tc.ds())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("WriteFile() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// rawElement is one element as read back by walk.
type rawElement struct {
	tag   Tag
	vr    string
	value []byte
}

// walk reads an Explicit VR Little Endian element stream, failing the test
// on anything malformed.
func walk(t *testing.T, b []byte) []rawElement {
	t.Helper()
	var out []rawElement
	for len(b) > 0 {
		if len(b) < 8 {
			t.Fatalf("trailing %d bytes", len(b))
		}
		tag := T(binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:]))
		vr := string(b[4:6])
		var n, hl int
		if longVR[vr] {
			if b[6] != 0 || b[7] != 0 {
				t.Fatalf("%s: reserved bytes not zero", tag)
			}
			n, hl = int(binary.LittleEndian.Uint32(b[8:])), 12
		} else {
			n, hl = int(binary.LittleEndian.Uint16(b[6:])), 8
		}
		if n%2 != 0 {
			t.Fatalf("%s: odd length %d", tag, n)
		}
		if hl+n > len(b) {
			t.Fatalf("%s: length %d past the end", tag, n)
		}
		out = append(out, rawElement{tag, vr, b[hl : hl+n]})
		b = b[hl+n:]
	}
	return out
}

func TestWriteFileLayout(t *testing.T) {
	d := NewDataset(Latin1)
	// Put out of order on purpose.
	d.Binary(T(0x7fe0, 0x10), "OW", []byte{1, 0, 2, 0})
	d.Strings(T(0x10, 0x10), "PN", "Müller^Jürgen")
	d.Strings(T(8, 5), "CS", "ISO_IR 100")
	d.UID(T(8, 0x18), "1.2.3")
	d.US(T(0x28, 0x10), 512)
	d.DS(T(0x20, 0x32), -179.2, 0, 1.0/3)
	d.Strings(T(0x8, 0x90), "PN")
	var buf bytes.Buffer
	meta := FileMeta{MediaStorageSOPClassUID: "1.2.840.10008.5.1.4.1.1.2", MediaStorageSOPInstanceUID: "1.2.3", ImplementationClassUID: "1.2.4", ImplementationVersionName: "TEST"}
	if err := WriteFile(&buf, meta, d); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if !bytes.Equal(b[:128], make([]byte, 128)) || string(b[128:132]) != "DICM" {
		t.Fatal("bad preamble or magic")
	}
	elems := walk(t, b[132:])
	if elems[0].tag != T(2, 0) || elems[0].vr != "UL" {
		t.Fatalf("first element %s %s, want (0002,0000) UL", elems[0].tag, elems[0].vr)
	}
	// Group length counts the bytes of the rest of group 2.
	gl := int(binary.LittleEndian.Uint32(elems[0].value))
	var metaEnd int
	off := 132 + 12
	for _, e := range elems[1:] {
		if e.tag.Group() != 2 {
			break
		}
		off += headerLen(e.vr) + len(e.value)
		metaEnd = off
	}
	if gl != metaEnd-(132+12) {
		t.Errorf("group length %d, want %d", gl, metaEnd-(132+12))
	}
	want := []struct {
		tag   Tag
		vr    string
		value string
	}{
		{T(2, 0), "UL", string(elems[0].value)},
		{T(2, 1), "OB", "\x00\x01"},
		{T(2, 2), "UI", "1.2.840.10008.5.1.4.1.1.2\x00"},
		{T(2, 3), "UI", "1.2.3\x00"},
		{T(2, 0x10), "UI", "1.2.840.10008.1.2.1\x00"},
		{T(2, 0x12), "UI", "1.2.4\x00"},
		{T(2, 0x13), "SH", "TEST"},
		{T(8, 5), "CS", "ISO_IR 100"},
		{T(8, 0x18), "UI", "1.2.3\x00"},
		{T(8, 0x90), "PN", ""},
		{T(0x10, 0x10), "PN", "M\xfcller^J\xfcrgen "},
		{T(0x20, 0x32), "DS", `-179.2\0\0.3333333333 `},
		{T(0x28, 0x10), "US", "\x00\x02"},
		{T(0x7fe0, 0x10), "OW", "\x01\x00\x02\x00"},
	}
	if len(elems) != len(want) {
		t.Fatalf("got %d elements, want %d", len(elems), len(want))
	}
	for i, w := range want {
		e := elems[i]
		if e.tag != w.tag || e.vr != w.vr || string(e.value) != w.value {
			t.Errorf("element %d = %s %s %q, want %s %s %q", i, e.tag, e.vr, e.value, w.tag, w.vr, w.value)
		}
	}
}

func TestFormatDS(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "0"},
		{1.0 / 3, "0.3333333333"},
		{-179.2, "-179.2"},
		{123456789012345678, "1.23456789e+17"},
		{-1.0 / 3e-300, "-3.33333333e+299"},
	}
	for _, tc := range tests {
		got, err := FormatDS(tc.in)
		if err != nil {
			t.Fatalf("FormatDS(%v): %v", tc.in, err)
		}
		if len(got) > 16 {
			t.Errorf("FormatDS(%v) = %q, longer than 16", tc.in, got)
		}
		if tc.want != "" && got != tc.want {
			t.Errorf("FormatDS(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
