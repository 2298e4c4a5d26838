package jpeg

import "encoding/binary"

// losslessScan decodes a lossless (process 14) scan, Annex H, writing the
// samples straight to the output. Only two rows per component are kept.
func (d *decoder) losslessScan(sc *scanHeader, br *bitReader) error {
	psv, pt := sc.ss, uint(sc.al)
	prec := d.info.Precision
	if psv < 1 || psv > 7 || sc.se != 0 || sc.ah != 0 || int(pt) >= prec {
		return corruptf("lossless scan with Ss=%d Se=%d Ah=%d Al=%d", sc.ss, sc.se, sc.ah, sc.al)
	}
	nc := sc.ns
	w, h := d.info.Width, d.info.Height
	var tabs [4]*huffTable
	for i := 0; i < nc; i++ {
		if !d.dc[sc.td[i]].defined {
			return corruptf("scan uses an undefined Huffman table")
		}
		tabs[i] = &d.dc[sc.td[i]]
		tabs[i].buildDiffLUT()
	}
	buf := make([]int32, 2*w*nc)
	prev, cur := buf[:w*nc], buf[w*nc:]
	initial := int32(1) << (uint(prec) - pt - 1)
	// Restarts only at row starts (the usual case) allow the row loops.
	rowRestarts := d.restart == 0 || d.restart%w == 0
	left := d.restart
	restartY := 0
	first := true
	for y := 0; y < h; y++ {
		var err error
		if rowRestarts {
			if d.restart > 0 {
				if left == 0 {
					if err := d.restartAt(br); err != nil {
						return err
					}
					restartY, left = y, d.restart
				}
				left -= w
			}
			if nc == 1 {
				err = br.row1(tabs[0], cur, prev, y == restartY, initial, psv)
			} else {
				err = br.rowN(tabs[:nc], cur, prev, y == restartY, initial, psv)
			}
		} else {
			left, restartY, first, err = d.rowGeneral(br, tabs[:nc], cur, prev, y, left, restartY, first, initial, psv)
		}
		if err != nil {
			return err
		}
		if br.overrun() {
			return corruptf("truncated scan data")
		}
		d.emitRow(cur, y, sc, pt)
		prev, cur = cur, prev
	}
	return nil
}

func (d *decoder) restartAt(br *bitReader) error {
	if br.overrun() {
		return corruptf("truncated restart interval")
	}
	return br.restart()
}

// emitRow writes a decoded row (nc interleaved components) to the output.
func (d *decoder) emitRow(cur []int32, y int, sc *scanHeader, pt uint) {
	w, samples, nc := d.info.Width, len(d.comps), sc.ns
	base := y * w * samples
	switch {
	case d.width == 2 && nc == samples && nc == 1:
		o := d.out[2*base : 2*base+2*w]
		for x, v := range cur[:w] {
			binary.LittleEndian.PutUint16(o[2*x:], uint16(v<<pt))
		}
	case d.width == 1 && nc == samples:
		o := d.out[base : base+w*nc]
		for i, v := range cur[:w*nc] {
			o[i] = byte(v << pt)
		}
	default:
		for i := 0; i < nc; i++ {
			c := sc.comps[i]
			for x := 0; x < w; x++ {
				u := uint16(cur[x*nc+i] << pt)
				o := base + x*samples + c
				switch d.width {
				case 1:
					d.out[o] = byte(u)
				case 2:
					binary.LittleEndian.PutUint16(d.out[2*o:], u)
				default:
					binary.LittleEndian.PutUint32(d.out[4*o:], uint32(u))
				}
			}
		}
	}
}

const diffBits = 12

// buildDiffLUT fills h.diffs: for every diffBits-bit prefix whose code and
// additional bits fit in it, the decoded difference<<8 | bits used.
func (h *huffTable) buildDiffLUT() {
	if h.diffs != nil {
		return
	}
	h.diffs = make([]int32, 1<<diffBits)
	for p := range h.diffs {
		acc := uint64(p) << (64 - diffBits)
		var l, s uint
		if e := h.lut[acc>>(64-lutBits)]; e != 0 {
			l, s = uint(e>>8), uint(e&0xFF)
		} else {
			continue
		}
		if s > 15 || l+s > diffBits {
			continue
		}
		v := int32(0)
		if s > 0 {
			v = int32(acc << l >> (64 - s))
			if v < 1<<(s-1) {
				v += -1<<s + 1
			}
		}
		h.diffs[p] = v<<8 | int32(l+s)
	}
}

// diff decodes one difference (H.1.2.2): a category then its bits.
func (br *bitReader) diff(h *huffTable) (int32, error) {
	if br.n < 32 {
		br.fill()
	}
	if e := h.diffs[br.acc>>(64-diffBits)]; e != 0 {
		l := uint(e & 0xFF)
		br.acc <<= l
		br.n -= l
		return e >> 8, nil
	}
	var s uint
	if e := h.lut[br.acc>>(64-lutBits)]; e != 0 {
		l := uint(e >> 8)
		br.acc <<= l
		br.n -= l
		s = uint(e & 0xFF)
	} else {
		v, err := br.decode(h)
		if err != nil {
			return 0, err
		}
		s = uint(v)
	}
	if s == 0 {
		return 0, nil
	}
	if s >= 16 {
		if s == 16 {
			return 32768, nil
		}
		return 0, corruptf("lossless difference category %d", s)
	}
	v := int32(br.acc >> (64 - s))
	br.acc <<= s
	br.n -= s
	if v < 1<<(s-1) {
		v += -1<<s + 1
	}
	return v, nil
}

// row1 decodes a row of one component. first: the row is the first of
// the scan or of a restart interval.
func (br *bitReader) row1(h *huffTable, cur, prev []int32, first bool, initial int32, psv int) error {
	w := len(cur)
	prev = prev[:w]
	dv, err := br.diff(h)
	if err != nil {
		return err
	}
	if first {
		cur[0] = (initial + dv) & 0xFFFF
		for x := 1; x < w; x++ {
			dv, err := br.diff(h)
			if err != nil {
				return err
			}
			cur[x] = (cur[x-1] + dv) & 0xFFFF
		}
		return nil
	}
	cur[0] = (prev[0] + dv) & 0xFFFF
	for x := 1; x < w; x++ {
		dv, err := br.diff(h)
		if err != nil {
			return err
		}
		ra, rb, rc := cur[x-1], prev[x], prev[x-1]
		var p int32
		switch psv {
		case 1:
			p = ra
		case 2:
			p = rb
		case 3:
			p = rc
		case 4:
			p = ra + rb - rc
		case 5:
			p = ra + (rb-rc)>>1
		case 6:
			p = rb + (ra-rc)>>1
		default:
			p = (ra + rb) >> 1
		}
		cur[x] = (p + dv) & 0xFFFF
	}
	return nil
}

// rowN decodes a row of an interleaved scan of len(tabs) components.
func (br *bitReader) rowN(tabs []*huffTable, cur, prev []int32, first bool, initial int32, psv int) error {
	nc := len(tabs)
	w := len(cur) / nc
	for x := 0; x < w; x++ {
		for i, h := range tabs {
			dv, err := br.diff(h)
			if err != nil {
				return err
			}
			j := x*nc + i
			cur[j] = (predict(cur, prev, j, nc, x == 0, first, initial, psv) + dv) & 0xFFFF
		}
	}
	return nil
}

// predict computes the prediction of sample j (H.1.2.1) on a row that is
// not interrupted by a restart.
func predict(cur, prev []int32, j, nc int, x0, first bool, initial int32, psv int) int32 {
	switch {
	case x0 && first:
		return initial
	case first:
		return cur[j-nc]
	case x0:
		return prev[j]
	}
	ra, rb, rc := cur[j-nc], prev[j], prev[j-nc]
	switch psv {
	case 1:
		return ra
	case 2:
		return rb
	case 3:
		return rc
	case 4:
		return ra + rb - rc
	case 5:
		return ra + (rb-rc)>>1
	case 6:
		return rb + (ra-rc)>>1
	}
	return (ra + rb) >> 1
}

// rowGeneral decodes a row when restart intervals may start mid-row.
func (d *decoder) rowGeneral(br *bitReader, tabs []*huffTable, cur, prev []int32, y, left, restartY int, first bool, initial int32, psv int) (int, int, bool, error) {
	nc := len(tabs)
	w := len(cur) / nc
	for x := 0; x < w; x++ {
		if left == 0 {
			if err := d.restartAt(br); err != nil {
				return 0, 0, false, err
			}
			first, restartY, left = true, y, d.restart
		}
		left--
		for i, h := range tabs {
			dv, err := br.diff(h)
			if err != nil {
				return 0, 0, false, err
			}
			j := x*nc + i
			var p int32
			switch {
			case first:
				p = initial
			case y == restartY:
				p = cur[j-nc]
			default:
				p = predict(cur, prev, j, nc, x == 0, false, initial, psv)
			}
			cur[j] = (p + dv) & 0xFFFF
		}
		first = false
	}
	return left, restartY, first, nil
}
