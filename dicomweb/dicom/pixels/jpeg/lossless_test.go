package jpeg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
)

// losslessEncoder is a small process 14 encoder for the tests: it covers
// what dcmcjpeg cannot be asked for (restart intervals, any precision,
// non-interleaved colour scans). One fixed Huffman table: categories 0-13
// have 4-bit codes, 14-16 5-bit codes.
type losslessEncoder struct {
	w, h, prec, psv, pt, restart int
	interleaved                  bool
}

type bitWriter struct {
	out  []byte
	acc  uint32
	nacc uint
}

func (bw *bitWriter) put(v uint32, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		bw.acc = bw.acc<<1 | (v>>uint(i))&1
		bw.nacc++
		if bw.nacc == 8 {
			b := byte(bw.acc)
			bw.out = append(bw.out, b)
			if b == 0xFF {
				bw.out = append(bw.out, 0)
			}
			bw.acc, bw.nacc = 0, 0
		}
	}
}

func (bw *bitWriter) flush() {
	for bw.nacc != 0 {
		bw.put(1, 1)
	}
}

func huffCode(s int) (uint32, uint) {
	if s < 14 {
		return uint32(s), 4
	}
	return uint32(28 + s - 14), 5
}

// encode returns a JPEG stream of the components' samples (each w*h).
func (e losslessEncoder) encode(comps [][]uint16) []byte {
	nc := len(comps)
	b := []byte{0xFF, 0xD8}
	seg := func(m byte, p []byte) {
		b = append(b, 0xFF, m, byte((len(p)+2)>>8), byte(len(p)+2))
		b = append(b, p...)
	}
	sof := []byte{byte(e.prec), byte(e.h >> 8), byte(e.h), byte(e.w >> 8), byte(e.w), byte(nc)}
	for i := range comps {
		sof = append(sof, byte(i+1), 0x11, 0)
	}
	seg(0xC3, sof)
	dht := []byte{0x00, 0, 0, 0, 14, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for s := 0; s <= 16; s++ {
		dht = append(dht, byte(s))
	}
	seg(0xC4, dht)
	if e.restart > 0 {
		seg(0xDD, []byte{byte(e.restart >> 8), byte(e.restart)})
	}
	scans := [][]int{}
	if e.interleaved {
		all := []int{}
		for i := range comps {
			all = append(all, i)
		}
		scans = append(scans, all)
	} else {
		for i := range comps {
			scans = append(scans, []int{i})
		}
	}
	for _, sc := range scans {
		sos := []byte{byte(len(sc))}
		for _, i := range sc {
			sos = append(sos, byte(i+1), 0)
		}
		sos = append(sos, byte(e.psv), 0, byte(e.pt))
		seg(0xDA, sos)
		b = append(b, e.scan(comps, sc)...)
	}
	return append(b, 0xFF, 0xD9)
}

func (e losslessEncoder) scan(comps [][]uint16, sc []int) []byte {
	bw := &bitWriter{}
	at := func(i, x, y int) int32 { return int32(comps[i][y*e.w+x] >> e.pt) }
	left, restartY, first, rst := e.restart, 0, true, 0
	for y := 0; y < e.h; y++ {
		for x := 0; x < e.w; x++ {
			if e.restart > 0 {
				if left == 0 {
					bw.flush()
					bw.out = append(bw.out, 0xFF, byte(0xD0+rst%8))
					rst++
					first, restartY, left = true, y, e.restart
				}
				left--
			}
			for _, i := range sc {
				var pred int32
				switch {
				case first:
					pred = 1 << (e.prec - e.pt - 1)
				case y == restartY:
					pred = at(i, x-1, y)
				case x == 0:
					pred = at(i, x, y-1)
				default:
					ra, rb, rc := at(i, x-1, y), at(i, x, y-1), at(i, x-1, y-1)
					pred = [...]int32{0, ra, rb, rc, ra + rb - rc, ra + (rb-rc)>>1, rb + (ra-rc)>>1, (ra + rb) >> 1}[e.psv]
				}
				diff := (at(i, x, y) - pred) & 0xFFFF
				if diff >= 0x8000 && diff != 0x8000 {
					diff -= 0x10000
				}
				s := bitsFor(diff)
				c, n := huffCode(s)
				bw.put(c, n)
				if s > 0 && s < 16 {
					v := diff
					if v < 0 {
						v += 1<<s - 1
					}
					bw.put(uint32(v), uint(s))
				}
			}
			first = false
		}
	}
	bw.flush()
	return bw.out
}

// bitsFor is the difference category SSSS (Table H.2).
func bitsFor(d int32) int {
	if d == 0x8000 {
		return 16
	}
	if d < 0 {
		d = -d
	}
	s := 0
	for d > 0 {
		s++
		d >>= 1
	}
	return s
}

// TestLosslessSynthetic checks predictors, precisions, point transforms,
// restart intervals (row-aligned and mid-row) and interleaved and
// non-interleaved colour scans against the encoder's input.
func TestLosslessSynthetic(t *testing.T) {
	const w, h = 13, 9
	rng := rand.New(rand.NewSource(1))
	for _, prec := range []int{2, 8, 12, 16} {
		for psv := 1; psv <= 7; psv++ {
			for _, pt := range []int{0, 1} {
				for _, restart := range []int{0, 5, w} {
					for _, layout := range []string{"gray", "interleaved", "planar"} {
						name := fmt.Sprintf("P%d_sv%d_pt%d_ri%d_%s", prec, psv, pt, restart, layout)
						t.Run(name, func(t *testing.T) {
							nc := 3
							if layout == "gray" {
								nc = 1
							}
							comps := make([][]uint16, nc)
							for i := range comps {
								comps[i] = make([]uint16, w*h)
								for j := range comps[i] {
									// Smooth ramps with noise, and some extremes.
									v := (j*37 + i*1000 + rng.Intn(64)) % (1 << prec)
									if rng.Intn(10) == 0 {
										v = rng.Intn(1 << prec)
									}
									comps[i][j] = uint16(v>>pt) << pt
								}
							}
							enc := losslessEncoder{w: w, h: h, prec: prec, psv: psv, pt: pt, restart: restart, interleaved: layout == "interleaved"}
							src := enc.encode(comps)
							ba := 16
							if prec <= 8 {
								ba = 8
							}
							p := codec.Params{Rows: h, Columns: w, Samples: nc, BitsAllocated: ba, BitsStored: prec}
							got, err := Decode(src, p, nil)
							if err != nil {
								t.Fatal(err)
							}
							for j := 0; j < w*h*nc; j++ {
								want := comps[j%nc][j/nc]
								g := uint16(got[j])
								if ba == 16 {
									g = binary.LittleEndian.Uint16(got[2*j:])
								}
								if g != want {
									t.Fatalf("sample %d (x=%d y=%d c=%d): got %d, want %d", j, j/nc%w, j/nc/w, j%nc, g, want)
								}
							}
							// Truncation anywhere in the entropy-coded data is an error.
							if _, err := Decode(src[:len(src)-6], p, nil); !errors.Is(err, codec.ErrCorrupt) {
								t.Fatalf("truncated: err = %v", err)
							}
						})
					}
				}
			}
		}
	}
}

// TestSigned checks the sign extension rules of the package documentation.
func TestSigned(t *testing.T) {
	for _, tc := range []struct {
		name     string
		prec, bs int
		in, want []uint16
	}{
		{"P=BS=16", 16, 16, []uint16{0xFFFB, 5, 0x8000}, []uint16{0xFFFB, 5, 0x8000}},
		{"P=BS=12", 12, 12, []uint16{0xFFB, 5, 0x800}, []uint16{0xFFFB, 5, 0xF800}},
		{"P16_BS12_sign_extended_words", 16, 12, []uint16{0xFFFB, 5, 0xF800}, []uint16{0xFFFB, 5, 0xF800}},
		{"P16_BS12_masked_values", 16, 12, []uint16{0x0FFB, 5, 0x7FF}, []uint16{0xFFFB, 5, 0x7FF}},
		{"P16_BS12_values_beyond_BS", 16, 12, []uint16{0xF448, 3000, 0x0FFB}, []uint16{0xF448, 3000, 0x0FFB}},
		{"P12_BS16", 12, 16, []uint16{0xFFB, 5}, []uint16{0xFFB, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(tc.in)
			src := losslessEncoder{w: n, h: 1, prec: tc.prec, psv: 1}.encode([][]uint16{tc.in})
			p := codec.Params{Rows: 1, Columns: n, Samples: 1, BitsAllocated: 16, BitsStored: tc.bs, Signed: true}
			got, err := Decode(src, p, make([]byte, 0, 64))
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tc.want {
				if g := binary.LittleEndian.Uint16(got[2*i:]); g != w {
					t.Errorf("sample %d: got %#x, want %#x", i, g, w)
				}
			}
		})
	}
}
