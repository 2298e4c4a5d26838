package pixeltest

import (
	"errors"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
)

// Seed adds the first frame of each of pydicom's named test files to f's
// corpus, as (index of its Params in the result, frame), and returns the
// files' Params in order.
func Seed(f *testing.F, names ...string) []codec.Params {
	f.Helper()
	var params []codec.Params
	for _, name := range names {
		img := Load(f, File(f, name))
		params = append(params, img.Params)
		f.Add(uint8(len(params)-1), img.Frames[0])
	}
	return params
}

// Fuzz fuzzes dec with inputs (which uint8, src []byte): src is decoded
// with params[which % len(params)]. dec must not panic and must return a
// frame of exactly FrameSize bytes or, when codecErrors is set, an error
// wrapping one of package codec's errors.
func Fuzz(f *testing.F, dec codec.Decoder, params []codec.Params, codecErrors bool) {
	f.Helper()
	f.Fuzz(func(t *testing.T, which uint8, src []byte) {
		p := params[int(which)%len(params)]
		got, err := dec(src, p, nil)
		if err != nil {
			if codecErrors && !IsCodecError(err) {
				t.Fatalf("error %v wraps no codec error", err)
			}
			return
		}
		if len(got) != int(p.FrameSize()) {
			t.Fatalf("%d bytes, want %d", len(got), p.FrameSize())
		}
	})
}

// Bench benchmarks dec on the first frame of img, decoding into a reused
// buffer.
func Bench(b *testing.B, dec codec.Decoder, img Image) {
	b.Helper()
	dst := make([]byte, img.Params.FrameSize())
	b.SetBytes(img.Params.FrameSize())
	for b.Loop() {
		if _, err := dec(img.Frames[0], img.Params, dst); err != nil {
			b.Fatal(err)
		}
	}
}

// ErrorCase is an input a decoder must refuse with an error wrapping Err.
type ErrorCase struct {
	Name string
	Src  []byte
	P    codec.Params
	Err  error
}

// CheckErrors decodes each case in a subtest and fails it unless the error
// wraps the case's Err.
func CheckErrors(t *testing.T, dec codec.Decoder, cases []ErrorCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			_, err := dec(tt.Src, tt.P, nil)
			if !errors.Is(err, tt.Err) {
				t.Fatalf("error %v, want %v", err, tt.Err)
			}
		})
	}
}

// With returns a copy of p changed by f.
func With(p codec.Params, f func(*codec.Params)) codec.Params {
	f(&p)
	return p
}
