package main

import (
	"encoding/binary"
	"math"
)

// rescaleIntercept maps stored values to Hounsfield units: HU = stored - 1024.
const rescaleIntercept = -1024

// fillPhantom writes rows×cols 16-bit little-endian stored values (12 bits
// used) of a synthetic CT slice into buf: air around an elliptic body of
// soft tissue with two lungs, a spine and a spherical lesion whose cross
// section changes with the slice position, plus deterministic noise. slice is
// in [0, nslices); the same (seed, slice) always gives the same bytes.
func fillPhantom(buf []byte, rows, cols, slice, nslices int, seed uint64) {
	rng := xorshift(seed*0x9E3779B97F4A7C15 + uint64(slice)*0xBF58476D1CE4E5B9 + 1)
	cx, cy := float64(cols)/2, float64(rows)/2
	z := 0.5
	if nslices > 1 {
		z = float64(slice) / float64(nslices-1)
	}
	// Lesion: sphere centred at z=0.5, radius 0.08 of the width.
	lr := 0.0
	if dz := (z - 0.5) / 0.3; dz*dz < 1 {
		lr = 0.08 * float64(cols) * math.Sqrt(1-dz*dz)
	}
	type ellipse struct{ x, y, a, b, hu float64 }
	shapes := []ellipse{
		{cx, cy, 0.42 * float64(cols), 0.34 * float64(rows), 40},                                            // body
		{cx - 0.17*float64(cols), cy - 0.03*float64(rows), 0.12 * float64(cols), 0.2 * float64(rows), -820}, // right lung
		{cx + 0.17*float64(cols), cy - 0.03*float64(rows), 0.12 * float64(cols), 0.2 * float64(rows), -830}, // left lung
		{cx, cy + 0.22*float64(rows), 0.05 * float64(cols), 0.05 * float64(rows), 700},                      // spine
	}
	if lr > 0 {
		shapes = append(shapes, ellipse{cx + 0.15*float64(cols), cy - 0.05*float64(rows), lr, lr, 60})
	}
	for y := 0; y < rows; y++ {
		fy := float64(y) + 0.5
		for x := 0; x < cols; x++ {
			fx := float64(x) + 0.5
			hu := -1000.0
			for _, s := range shapes {
				dx, dy := (fx-s.x)/s.a, (fy-s.y)/s.b
				if dx*dx+dy*dy <= 1 {
					hu = s.hu
				}
			}
			r := rng.next()
			noise := float64(int(r&31)+int(r>>5&31)) - 31 // triangular, -31..31
			v := int(hu+noise) - rescaleIntercept
			v = max(0, min(4095, v))
			binary.LittleEndian.PutUint16(buf[2*(y*cols+x):], uint16(v))
		}
	}
}

// fillSmall writes a small 12-bit gradient image with noise (tiny studies).
func fillSmall(buf []byte, rows, cols int, seed uint64) {
	rng := xorshift(seed | 1)
	for y := 0; y < rows; y++ {
		for x := 0; x < cols; x++ {
			v := (x+y)*4095/(rows+cols) + int(rng.next()&63)
			binary.LittleEndian.PutUint16(buf[2*(y*cols+x):], uint16(min(4095, v)))
		}
	}
}

// xorshift is a tiny deterministic PRNG (xorshift64*), fast enough for
// hundreds of millions of noise samples.
type xorshiftState struct{ s uint64 }

func xorshift(seed uint64) *xorshiftState {
	if seed == 0 {
		seed = 0x2545F4914F6CDD1D
	}
	return &xorshiftState{s: seed}
}

func (x *xorshiftState) next() uint64 {
	x.s ^= x.s >> 12
	x.s ^= x.s << 25
	x.s ^= x.s >> 27
	return x.s * 0x2545F4914F6CDD1D
}
