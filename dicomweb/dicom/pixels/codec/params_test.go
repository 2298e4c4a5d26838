package codec

import (
	"bytes"
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	ok := Params{Rows: 2, Columns: 3, Samples: 1, BitsAllocated: 16, BitsStored: 12}
	with := func(f func(*Params)) Params { p := ok; f(&p); return p }
	for _, tt := range []struct {
		name     string
		p        Params
		geometry error // CheckGeometry
		all      error // Check
	}{
		{"valid", ok, nil, nil},
		{"32 bits", with(func(p *Params) { p.BitsAllocated, p.BitsStored = 32, 32 }), nil, nil},
		{"no rows", with(func(p *Params) { p.Rows = 0 }), ErrMismatch, ErrMismatch},
		{"too many columns", with(func(p *Params) { p.Columns = 65536 }), ErrMismatch, ErrMismatch},
		{"no samples", with(func(p *Params) { p.Samples = 0 }), ErrUnsupported, ErrUnsupported},
		{"5 samples", with(func(p *Params) { p.Samples = 5 }), ErrUnsupported, ErrUnsupported},
		{"12 bits allocated", with(func(p *Params) { p.BitsAllocated = 12 }), nil, ErrUnsupported},
		{"no bits stored", with(func(p *Params) { p.BitsStored = 0 }), nil, ErrMismatch},
		{"more stored than allocated", with(func(p *Params) { p.BitsStored = 17 }), nil, ErrMismatch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.CheckGeometry(); !errors.Is(err, tt.geometry) || (err == nil) != (tt.geometry == nil) {
				t.Errorf("CheckGeometry: %v, want %v", err, tt.geometry)
			}
			if err := tt.p.Check(); !errors.Is(err, tt.all) || (err == nil) != (tt.all == nil) {
				t.Errorf("Check: %v, want %v", err, tt.all)
			}
		})
	}
}

func TestFixHighBits(t *testing.T) {
	for _, tt := range []struct {
		name          string
		alloc, stored int
		signed        bool
		in, want      []byte
	}{
		{"8 of 8 untouched", 8, 8, true, []byte{0xFF, 0x80}, []byte{0xFF, 0x80}},
		{"6 of 8 unsigned", 8, 6, false, []byte{0xFF, 0x20}, []byte{0x3F, 0x20}},
		{"6 of 8 signed", 8, 6, true, []byte{0x20, 0x1F, 0x40}, []byte{0xE0, 0x1F, 0x00}},
		{"12 of 16 unsigned", 16, 12, false, []byte{0xFF, 0xFF}, []byte{0xFF, 0x0F}},
		{"12 of 16 signed", 16, 12, true, []byte{0x00, 0x08, 0xFF, 0x07}, []byte{0x00, 0xF8, 0xFF, 0x07}},
		{"24 of 32 signed", 32, 24, true, []byte{0, 0, 0x80, 0x12}, []byte{0, 0, 0x80, 0xFF}},
		{"24 of 32 unsigned", 32, 24, false, []byte{1, 2, 0x80, 0x12}, []byte{1, 2, 0x80, 0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(tt.in)
			FixHighBits(b, Params{BitsAllocated: tt.alloc, BitsStored: tt.stored, Signed: tt.signed})
			if !bytes.Equal(b, tt.want) {
				t.Fatalf("got % x, want % x", b, tt.want)
			}
		})
	}
}

func TestSampleRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		width int
		v     int64
		raw   []byte
		read  uint32
	}{
		{1, -1, []byte{0xFF}, 0xFF},
		{2, -2, []byte{0xFE, 0xFF}, 0xFFFE},
		{2, 0x1234, []byte{0x34, 0x12}, 0x1234},
		{4, -3, []byte{0xFD, 0xFF, 0xFF, 0xFF}, 0xFFFFFFFD},
	} {
		b := make([]byte, tt.width)
		WriteSample(b, tt.width, tt.v)
		if !bytes.Equal(b, tt.raw) {
			t.Errorf("WriteSample(%d, %d) = % x, want % x", tt.width, tt.v, b, tt.raw)
		}
		if got := ReadSample(b, tt.width); got != tt.read {
			t.Errorf("ReadSample(% x) = %#x, want %#x", b, got, tt.read)
		}
	}
}
