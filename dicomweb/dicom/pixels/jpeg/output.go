package jpeg

import "encoding/binary"

// outputDCT upsamples the component planes to full resolution as libjpeg
// 6b does (jdsample.c) and writes the interleaved output.
func (d *decoder) outputDCT() {
	w, h, nc := d.info.Width, d.info.Height, len(d.comps)
	rows := make([][]uint16, nc)
	for i := range rows {
		rows[i] = make([]uint16, w+8)
	}
	for y := 0; y < h; y++ {
		for i := range d.comps {
			d.upsampleRow(&d.comps[i], y, rows[i])
		}
		line := y * w * nc
		for i, r := range rows {
			d.putRow(line+i, nc, r[:w])
		}
	}
}

// putRow writes samples to the output starting at sample index first,
// every step samples.
func (d *decoder) putRow(first, step int, r []uint16) {
	out := d.out
	switch d.width {
	case 1:
		for x, v := range r {
			out[first+x*step] = byte(v)
		}
	case 2:
		for x, v := range r {
			binary.LittleEndian.PutUint16(out[2*(first+x*step):], v)
		}
	default:
		for x, v := range r {
			binary.LittleEndian.PutUint32(out[4*(first+x*step):], uint32(v))
		}
	}
}

// upsampleRow produces output row y of component c in dst (≥ width).
func (d *decoder) upsampleRow(c *component, y int, dst []uint16) {
	hr, vr := d.hmax/c.h, d.vmax/c.v
	w := d.info.Width
	iy := y / vr
	in := c.plane[iy*c.stride : iy*c.stride+c.dw]
	fancy := c.dw > 2
	switch {
	case hr == 1 && vr == 1:
		copy(dst, in[:w])
	case hr == 2 && vr == 1 && fancy:
		// h2v1_fancy_upsample: 3/4 nearer + 1/4 further sample.
		n := len(in)
		dst[0] = in[0]
		dst[1] = uint16((int(in[0])*3 + int(in[1]) + 2) >> 2)
		for x := 1; x < n-1; x++ {
			v := int(in[x]) * 3
			dst[2*x] = uint16((v + int(in[x-1]) + 1) >> 2)
			dst[2*x+1] = uint16((v + int(in[x+1]) + 2) >> 2)
		}
		dst[2*n-2] = uint16((int(in[n-1])*3 + int(in[n-2]) + 1) >> 2)
		dst[2*n-1] = in[n-1]
	case hr == 2 && vr == 2 && fancy:
		// h2v2_fancy_upsample: the nearer row counts 3/4, the other 1/4;
		// rows beyond the edges repeat the edge row.
		ny := iy - 1
		if y%2 == 1 {
			ny = iy + 1
		}
		ny = min(max(ny, 0), c.dh-1)
		in1 := c.plane[ny*c.stride : ny*c.stride+c.dw]
		n := len(in)
		this := int(in[0])*3 + int(in1[0])
		next := int(in[1])*3 + int(in1[1])
		dst[0] = uint16((this*4 + 8) >> 4)
		dst[1] = uint16((this*3 + next + 7) >> 4)
		last := this
		this = next
		for x := 1; x < n-1; x++ {
			next = int(in[x+1])*3 + int(in1[x+1])
			dst[2*x] = uint16((this*3 + last + 8) >> 4)
			dst[2*x+1] = uint16((this*3 + next + 7) >> 4)
			last, this = this, next
		}
		dst[2*n-2] = uint16((this*3 + last + 8) >> 4)
		dst[2*n-1] = uint16((this*4 + 7) >> 4)
	default:
		// int_upsample: replication.
		for x := 0; x < w; x++ {
			dst[x] = in[x/hr]
		}
	}
}

// fixSign sign extends the output samples when Params.Signed (see the
// package documentation for the rule when the precision exceeds
// BitsStored).
func (d *decoder) fixSign() {
	if !d.p.Signed {
		return
	}
	from := d.p.BitsStored
	prec := d.info.Precision
	if prec > from && d.widthBits() > from {
		// Full-width values? Look for bits above BitsStored that are
		// neither zero nor a sign extension.
		hi := (uint32(1)<<prec - 1) &^ (uint32(1)<<(from-1) - 1) // bits from-1 .. prec-1
		for i := 0; i < len(d.out)/d.width; i++ {
			v := d.sample(i) & hi
			if v != 0 && v != hi && v != 1<<(from-1) {
				from = prec
				break
			}
		}
	}
	if from >= d.widthBits() {
		return
	}
	shift := 32 - uint(from)
	for i := 0; i < len(d.out)/d.width; i++ {
		v := uint32(int32(d.sample(i)<<shift) >> shift)
		switch d.width {
		case 1:
			d.out[i] = byte(v)
		case 2:
			binary.LittleEndian.PutUint16(d.out[2*i:], uint16(v))
		default:
			binary.LittleEndian.PutUint32(d.out[4*i:], v)
		}
	}
}

func (d *decoder) widthBits() int { return 8 * d.width }

func (d *decoder) sample(i int) uint32 {
	switch d.width {
	case 1:
		return uint32(d.out[i])
	case 2:
		return uint32(binary.LittleEndian.Uint16(d.out[2*i:]))
	default:
		return binary.LittleEndian.Uint32(d.out[4*i:])
	}
}
