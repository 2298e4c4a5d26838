package jpeg

// unzig maps the zig-zag index of a coefficient to its natural index.
var unzig = [64]uint8{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
}

// dctScan decodes a sequential DCT scan (F.2.2) into the component planes.
func (d *decoder) dctScan(sc *scanHeader, br *bitReader) error {
	// Ss, Se, Ah and Al are fixed for sequential scans; like libjpeg,
	// ignore wrong values (JPEG-lossy.dcm has Se=0).
	mcusX := (d.info.Width + 8*d.hmax - 1) / (8 * d.hmax)
	mcusY := (d.info.Height + 8*d.vmax - 1) / (8 * d.vmax)
	for i := 0; i < sc.ns; i++ {
		c := &d.comps[sc.comps[i]]
		if !d.dc[sc.td[i]].defined || !d.ac[sc.ta[i]].defined {
			return corruptf("scan uses an undefined Huffman table")
		}
		if !d.qtSet[c.tq] {
			return corruptf("component uses an undefined quantisation table")
		}
		if c.plane == nil {
			c.stride = mcusX * c.h * 8
			c.plane = make([]uint16, c.stride*mcusY*c.v*8)
		}
		c.pred = 0
	}
	// MCU grid: interleaved scans use the frame's MCUs; a one-component
	// scan has one block per MCU over the component's own size.
	bx, by := mcusX, mcusY
	if sc.ns == 1 {
		c := &d.comps[sc.comps[0]]
		bx, by = (c.dw+7)/8, (c.dh+7)/8
	}
	idct := newIDCT(d.info.Precision)
	var coef [64]int32
	left := d.restart
	for my := 0; my < by; my++ {
		for mx := 0; mx < bx; mx++ {
			if d.restart > 0 {
				if left == 0 {
					if br.overrun() {
						return corruptf("truncated restart interval")
					}
					if err := br.restart(); err != nil {
						return err
					}
					for i := 0; i < sc.ns; i++ {
						d.comps[sc.comps[i]].pred = 0
					}
					left = d.restart
				}
				left--
			}
			for i := 0; i < sc.ns; i++ {
				c := &d.comps[sc.comps[i]]
				dc, ac, q := &d.dc[sc.td[i]], &d.ac[sc.ta[i]], &d.qt[c.tq]
				nh, nv := c.h, c.v
				if sc.ns == 1 {
					nh, nv = 1, 1
				}
				for v := 0; v < nv; v++ {
					for h := 0; h < nh; h++ {
						if err := d.block(br, dc, ac, q, &c.pred, &coef); err != nil {
							return err
						}
						x, y := (mx*nh+h)*8, (my*nv+v)*8
						idct.run(&coef, c.plane[y*c.stride+x:], c.stride)
					}
				}
			}
		}
		if br.overrun() {
			return corruptf("truncated scan data")
		}
	}
	return nil
}

// block decodes one 8×8 block's dequantised coefficients (F.2.2.1-2).
func (d *decoder) block(br *bitReader, dc, ac *huffTable, q *[64]int32, pred *int32, coef *[64]int32) error {
	*coef = [64]int32{}
	if br.n < 32 {
		br.fill()
	}
	t, err := br.decode(dc)
	if err != nil {
		return err
	}
	if t > 15 {
		return corruptf("DC difference category %d", t)
	}
	if br.n < 16 {
		br.fill()
	}
	*pred += br.receiveExtend(uint(t))
	coef[0] = *pred * q[0]
	for k := 1; k < 64; k++ {
		if br.n < 32 {
			br.fill()
		}
		rs, err := br.decode(ac)
		if err != nil {
			return err
		}
		r, s := int(rs>>4), uint(rs&15)
		if s == 0 {
			if r != 15 {
				break // EOB
			}
			k += 15
			continue
		}
		k += r
		if k > 63 {
			return corruptf("AC coefficient index %d", k)
		}
		coef[unzig[k]] = br.receiveExtend(s) * q[k]
	}
	return nil
}

// idct is libjpeg 6b's accurate integer inverse DCT (jidctint.c, ISLOW),
// with its output range limiting, for 8- and 12-bit samples.
type idct struct {
	pass1 uint // PASS1_BITS: 2 for 8-bit, 1 for 12-bit
	limit []uint16
	mask  int32
}

var idcts = map[int]*idct{8: buildIDCT(8), 12: buildIDCT(12)}

func newIDCT(precision int) *idct { return idcts[precision] }

// buildIDCT builds libjpeg's range-limit table as seen from the IDCT
// (jdmaster.c prepare_range_limit_table, offset by CENTERJSAMPLE): it
// clamps moderate overshoots and wraps wild ones exactly as libjpeg does.
func buildIDCT(precision int) *idct {
	maxv := int32(1)<<precision - 1
	center := (maxv + 1) / 2
	n := 4 * (maxv + 1)
	t := make([]uint16, n)
	for x := int32(0); x < n; x++ {
		var v int32
		switch {
		case x < center:
			v = x + center
		case x < 2*(maxv+1):
			v = maxv
		case x < n-center:
			v = 0
		default:
			v = x - (n - center)
		}
		t[x] = uint16(v)
	}
	p := &idct{pass1: 2, limit: t, mask: n - 1}
	if precision == 12 {
		p.pass1 = 1
	}
	return p
}

const (
	constBits      = 13
	fix0_298631336 = 2446
	fix0_390180644 = 3196
	fix0_541196100 = 4433
	fix0_765366865 = 6270
	fix0_899976223 = 7373
	fix1_175875602 = 9633
	fix1_501321110 = 12299
	fix1_847759065 = 15137
	fix1_961570560 = 16069
	fix2_053119869 = 16819
	fix2_562915447 = 20995
	fix3_072711026 = 25172
)

func descale(x int32, n uint) int32 { return (x + 1<<(n-1)) >> n }

// run transforms the dequantised coefficients in and writes the 8×8
// samples to out (row stride stride).
func (p *idct) run(in *[64]int32, out []uint16, stride int) {
	var ws [64]int32
	pass1 := p.pass1
	// Pass 1: columns.
	for c := 0; c < 8; c++ {
		if in[8+c] == 0 && in[16+c] == 0 && in[24+c] == 0 && in[32+c] == 0 &&
			in[40+c] == 0 && in[48+c] == 0 && in[56+c] == 0 {
			dcval := in[c] << pass1
			for r := 0; r < 8; r++ {
				ws[8*r+c] = dcval
			}
			continue
		}
		z2, z3 := in[16+c], in[48+c]
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 + z3*-fix1_847759065
		tmp3 := z1 + z2*fix0_765366865
		z2, z3 = in[c], in[32+c]
		tmp0 := (z2 + z3) << constBits
		tmp1 := (z2 - z3) << constBits
		tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
		tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2

		tmp0, tmp1, tmp2, tmp3 = in[56+c], in[40+c], in[24+c], in[8+c]
		o0, o1, o2, o3 := odd(tmp0, tmp1, tmp2, tmp3)
		n := constBits - pass1
		ws[c] = descale(tmp10+o3, n)
		ws[56+c] = descale(tmp10-o3, n)
		ws[8+c] = descale(tmp11+o2, n)
		ws[48+c] = descale(tmp11-o2, n)
		ws[16+c] = descale(tmp12+o1, n)
		ws[40+c] = descale(tmp12-o1, n)
		ws[24+c] = descale(tmp13+o0, n)
		ws[32+c] = descale(tmp13-o0, n)
	}
	// Pass 2: rows.
	lim, mask := p.limit, p.mask
	n := constBits + pass1 + 3
	for r := 0; r < 8; r++ {
		w := ws[8*r : 8*r+8 : 8*r+8]
		o := out[r*stride : r*stride+8 : r*stride+8]
		if w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
			v := lim[descale(w[0], pass1+3)&mask]
			for i := range o {
				o[i] = v
			}
			continue
		}
		z2, z3 := w[2], w[6]
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 + z3*-fix1_847759065
		tmp3 := z1 + z2*fix0_765366865
		tmp0 := (w[0] + w[4]) << constBits
		tmp1 := (w[0] - w[4]) << constBits
		tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
		tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2
		o0, o1, o2, o3 := odd(w[7], w[5], w[3], w[1])
		o[0] = lim[descale(tmp10+o3, n)&mask]
		o[7] = lim[descale(tmp10-o3, n)&mask]
		o[1] = lim[descale(tmp11+o2, n)&mask]
		o[6] = lim[descale(tmp11-o2, n)&mask]
		o[2] = lim[descale(tmp12+o1, n)&mask]
		o[5] = lim[descale(tmp12-o1, n)&mask]
		o[3] = lim[descale(tmp13+o0, n)&mask]
		o[4] = lim[descale(tmp13-o0, n)&mask]
	}
}

// odd is the odd part of jidctint.c for inputs 7, 5, 3, 1.
func odd(tmp0, tmp1, tmp2, tmp3 int32) (int32, int32, int32, int32) {
	z1 := tmp0 + tmp3
	z2 := tmp1 + tmp2
	z3 := tmp0 + tmp2
	z4 := tmp1 + tmp3
	z5 := (z3 + z4) * fix1_175875602
	tmp0 *= fix0_298631336
	tmp1 *= fix2_053119869
	tmp2 *= fix3_072711026
	tmp3 *= fix1_501321110
	z1 *= -fix0_899976223
	z2 *= -fix2_562915447
	z3 *= -fix1_961570560
	z4 *= -fix0_390180644
	z3 += z5
	z4 += z5
	return tmp0 + z1 + z3, tmp1 + z2 + z4, tmp2 + z2 + z3, tmp3 + z1 + z4
}
