package jpeg

import (
	"encoding/binary"
	"fmt"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
)

var (
	errCorrupt     = codec.ErrCorrupt
	errMismatch    = codec.ErrMismatch
	errUnsupported = codec.ErrUnsupported
)

// Markers (Table B.1).
const (
	mSOF0 = 0xC0 // baseline DCT
	mSOF1 = 0xC1 // extended sequential DCT, Huffman
	mSOF2 = 0xC2 // progressive DCT, Huffman
	mSOF3 = 0xC3 // lossless, Huffman
	mDHT  = 0xC4
	mJPG  = 0xC8
	mDAC  = 0xCC
	mSOI  = 0xD8
	mEOI  = 0xD9
	mSOS  = 0xDA
	mDQT  = 0xDB
	mDNL  = 0xDC
	mDRI  = 0xDD
	mDHP  = 0xDE
	mEXP  = 0xDF
	mAPP0 = 0xE0
	mAPPE = 0xEE
)

type component struct {
	id     byte
	h, v   int // sampling factors
	tq     int // quantisation table
	dw, dh int // size in samples (downsampled)
	// DCT: the component's samples, stride*rows, padded to whole MCUs.
	plane  []uint16
	stride int
	done   bool // covered by a scan
	pred   int32
}

// Info describes a JPEG stream, as read from its headers.
type Info struct {
	// Process is the SOF marker's low nibble: 0 baseline, 1 extended,
	// 2 progressive, 3 lossless, ...
	Process int
	// Precision is the sample precision P in bits.
	Precision     int
	Width, Height int
	Components    int
	// Sampling holds H<<4|V per component.
	Sampling []byte
	// Adobe is true when an Adobe APP14 marker was found; AdobeTransform
	// is its transform flag (0: none/RGB or CMYK, 1: YCbCr, 2: YCCK).
	Adobe          bool
	AdobeTransform int
	// JFIF is true when a JFIF APP0 marker was found.
	JFIF bool
}

type decoder struct {
	p    codec.Params
	data []byte
	pos  int

	info    Info
	sof     bool
	comps   []component
	hmax    int
	vmax    int
	qt      [4][64]int32
	qtSet   [4]bool
	dc, ac  [4]huffTable
	restart int
	out     []byte
	width   int // output bytes per sample
}

// ReadInfo reads the headers of a JPEG stream up to its first scan.
func ReadInfo(src []byte) (Info, error) {
	d := &decoder{data: src}
	if err := d.run(true); err != nil {
		return Info{}, err
	}
	return d.info, nil
}

// Decode decodes one JPEG frame into native samples (see package codec).
// It has the signature of codec.Decoder.
func Decode(src []byte, p codec.Params, dst []byte) (out []byte, err error) {
	if p.Rows <= 0 || p.Columns <= 0 || p.Samples < 1 || p.Samples > 4 {
		return nil, fmt.Errorf("jpeg: decode: %dx%d with %d samples: %w", p.Columns, p.Rows, p.Samples, errMismatch)
	}
	switch p.BitsAllocated {
	case 8, 16, 32:
	default:
		return nil, fmt.Errorf("jpeg: decode: BitsAllocated %d: %w", p.BitsAllocated, errMismatch)
	}
	if p.BitsStored <= 0 || p.BitsStored > p.BitsAllocated {
		p.BitsStored = p.BitsAllocated
	}
	size := p.FrameSize()
	if size <= 0 || size > 1<<40 {
		return nil, fmt.Errorf("jpeg: decode: frame of %d bytes: %w", size, errMismatch)
	}
	d := &decoder{p: p, data: src, width: p.BitsAllocated / 8}
	if err := d.run(false); err != nil {
		return nil, err
	}
	// Every sample costs at least one bit in a lossless stream, every 8×8
	// block of the first component two bits in a DCT one: a short stream
	// cannot describe a large frame, so do not allocate for it.
	px := int64(p.Rows) * int64(p.Columns)
	if (d.info.Process == 3 && px*int64(p.Samples) > 8*int64(len(src))) || px > 256*int64(len(src)) {
		return nil, corruptf("%d bytes cannot code a %dx%d frame", len(src), p.Columns, p.Rows)
	}
	if int64(cap(dst)) >= size {
		d.out = dst[:size]
	} else {
		d.out = make([]byte, size)
	}
	if err := d.decodeFrame(); err != nil {
		return nil, err
	}
	return d.out, nil
}

// run parses the markers up to the first SOS (headersOnly) and checks the
// frame against Params. Decode then continues with decodeFrame.
func (d *decoder) run(headersOnly bool) error {
	if len(d.data) < 2 || d.data[0] != 0xFF || d.data[1] != mSOI {
		return corruptf("no SOI marker")
	}
	d.pos = 2
	for {
		m, seg, err := d.nextSegment()
		if err != nil {
			return err
		}
		if m == mSOS {
			d.pos -= len(seg) + 4 // let decodeFrame read the SOS again
			if !d.sof {
				return corruptf("SOS before SOF")
			}
			if headersOnly {
				return nil
			}
			return d.checkParams()
		}
		if m == mEOI {
			return corruptf("no scan")
		}
		if err := d.header(m, seg); err != nil {
			return err
		}
	}
}

// nextSegment finds the next marker and returns it with its segment
// payload (empty for markers without one); d.pos moves past it.
func (d *decoder) nextSegment() (byte, []byte, error) {
	m, next, ok := nextMarker(d.data, d.pos)
	if !ok {
		return 0, nil, corruptf("unexpected end of stream at byte %d", d.pos)
	}
	d.pos = next
	if m == mSOI || m == mEOI || (m >= 0xD0 && m <= 0xD7) || m == 0x01 {
		return m, nil, nil
	}
	if d.pos+2 > len(d.data) {
		return 0, nil, corruptf("truncated marker segment %#x", m)
	}
	n := int(binary.BigEndian.Uint16(d.data[d.pos:]))
	if n < 2 || d.pos+n > len(d.data) {
		return 0, nil, corruptf("marker segment %#x of %d bytes at byte %d", m, n, d.pos)
	}
	seg := d.data[d.pos+2 : d.pos+n]
	d.pos += n
	return m, seg, nil
}

// header interprets a marker segment other than SOS.
func (d *decoder) header(m byte, seg []byte) error {
	switch {
	case m == mSOF0 || m == mSOF1 || m == mSOF3 || m == mSOF2:
		return d.parseSOF(m, seg)
	case m == mDHT:
		return d.parseDHT(seg)
	case m == mDQT:
		return d.parseDQT(seg)
	case m == mDRI:
		if len(seg) != 2 {
			return corruptf("DRI segment of %d bytes", len(seg))
		}
		d.restart = int(binary.BigEndian.Uint16(seg))
	case m == mAPPE:
		if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
			d.info.Adobe, d.info.AdobeTransform = true, int(seg[11])
		}
	case m == mAPP0:
		if len(seg) >= 5 && string(seg[:5]) == "JFIF\x00" {
			d.info.JFIF = true
		}
	case m >= 0xC0 && m <= 0xCF && m != mJPG: // other SOF, DAC
		return fmt.Errorf("jpeg: SOF%d / DAC (process not implemented): %w", m-0xC0, errUnsupported)
	case m == mDHP || m == mEXP:
		return fmt.Errorf("jpeg: hierarchical process: %w", errUnsupported)
	case m == 0xF7: // SOF55, JPEG-LS
		return fmt.Errorf("jpeg: JPEG-LS stream: %w", errUnsupported)
	}
	// APPn, COM, DNL, JPGn, RSTn outside scans: ignored.
	return nil
}

func (d *decoder) parseSOF(m byte, seg []byte) error {
	if d.sof {
		return corruptf("second SOF marker")
	}
	if len(seg) < 6 {
		return corruptf("short SOF segment")
	}
	d.sof = true
	d.info.Process = int(m - 0xC0)
	d.info.Precision = int(seg[0])
	d.info.Height = int(binary.BigEndian.Uint16(seg[1:]))
	d.info.Width = int(binary.BigEndian.Uint16(seg[3:]))
	nc := int(seg[5])
	if nc < 1 || nc > 4 || len(seg) != 6+3*nc {
		return corruptf("SOF with %d components in %d bytes", nc, len(seg))
	}
	d.info.Components = nc
	d.comps = make([]component, nc)
	for i := range d.comps {
		b := seg[6+3*i:]
		c := &d.comps[i]
		c.id, c.h, c.v, c.tq = b[0], int(b[1]>>4), int(b[1]&15), int(b[2])
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3 {
			return corruptf("component %d: sampling %dx%d, table %d", i, c.h, c.v, c.tq)
		}
		for j := 0; j < i; j++ {
			if d.comps[j].id == c.id {
				return corruptf("duplicate component id %d", c.id)
			}
		}
		d.info.Sampling = append(d.info.Sampling, b[1])
		d.hmax, d.vmax = max(d.hmax, c.h), max(d.vmax, c.v)
	}
	switch d.info.Process {
	case 0:
		if d.info.Precision != 8 {
			return corruptf("baseline precision %d", d.info.Precision)
		}
	case 1, 2:
		if d.info.Precision != 8 && d.info.Precision != 12 {
			return corruptf("DCT precision %d", d.info.Precision)
		}
	case 3:
		if d.info.Precision < 2 || d.info.Precision > 16 {
			return corruptf("lossless precision %d", d.info.Precision)
		}
	}
	return nil
}

func (d *decoder) parseDHT(seg []byte) error {
	for len(seg) > 0 {
		tc, th := seg[0]>>4, seg[0]&15
		if tc > 1 || th > 3 {
			return corruptf("DHT table class %d id %d", tc, th)
		}
		t := &d.dc[th]
		if tc == 1 {
			t = &d.ac[th]
		}
		n, err := t.parse(seg[1:])
		if err != nil {
			return err
		}
		seg = seg[1+n:]
	}
	return nil
}

func (d *decoder) parseDQT(seg []byte) error {
	for len(seg) > 0 {
		pq, tq := seg[0]>>4, seg[0]&15
		if pq > 1 || tq > 3 {
			return corruptf("DQT precision %d id %d", pq, tq)
		}
		seg = seg[1:]
		if len(seg) < 64<<pq {
			return corruptf("short DQT segment")
		}
		for k := 0; k < 64; k++ {
			if pq == 0 {
				d.qt[tq][k] = int32(seg[k])
			} else {
				d.qt[tq][k] = int32(binary.BigEndian.Uint16(seg[2*k:]))
			}
		}
		d.qtSet[tq] = true
		seg = seg[64<<pq:]
	}
	return nil
}

// checkParams checks the frame header against Params.
func (d *decoder) checkParams() error {
	in := &d.info
	switch in.Process {
	case 0, 1, 3:
	default:
		return fmt.Errorf("jpeg: SOF%d (progressive) not implemented: %w", in.Process, errUnsupported)
	}
	if in.Height == 0 {
		return fmt.Errorf("jpeg: frame height defined by DNL: %w", errUnsupported)
	}
	if in.Width != d.p.Columns || in.Height != d.p.Rows || in.Components != d.p.Samples {
		return fmt.Errorf("jpeg: stream is %dx%d with %d components, data set %dx%d with %d: %w",
			in.Width, in.Height, in.Components, d.p.Columns, d.p.Rows, d.p.Samples, errMismatch)
	}
	if in.Precision > d.p.BitsAllocated {
		return fmt.Errorf("jpeg: stream precision %d, BitsAllocated %d: %w", in.Precision, d.p.BitsAllocated, errMismatch)
	}
	for i := range d.comps {
		c := &d.comps[i]
		if d.hmax%c.h != 0 || d.vmax%c.v != 0 {
			return fmt.Errorf("jpeg: fractional sampling factors: %w", errUnsupported)
		}
		c.dw = (in.Width*c.h + d.hmax - 1) / d.hmax
		c.dh = (in.Height*c.v + d.vmax - 1) / d.vmax
	}
	if in.Process == 3 && len(d.comps) > 1 {
		for _, c := range d.comps {
			if c.h != 1 || c.v != 1 {
				return fmt.Errorf("jpeg: lossless with subsampled components: %w", errUnsupported)
			}
		}
	}
	return nil
}

// decodeFrame decodes every scan, then produces the output.
func (d *decoder) decodeFrame() error {
	for {
		m, seg, err := d.nextSegment()
		if err != nil {
			if d.allDone() {
				break // tolerate a missing EOI
			}
			return err
		}
		if m == mEOI {
			break
		}
		if m != mSOS {
			if m >= 0xC0 && m <= 0xC3 {
				return corruptf("second SOF marker")
			}
			if err := d.header(m, seg); err != nil {
				return err
			}
			continue
		}
		if err := d.scan(seg); err != nil {
			return err
		}
	}
	if !d.allDone() {
		return corruptf("stream ends before every component is decoded")
	}
	if d.info.Process != 3 {
		d.outputDCT()
	}
	d.fixSign()
	return nil
}

func (d *decoder) allDone() bool {
	for _, c := range d.comps {
		if !c.done {
			return false
		}
	}
	return true
}

// scan parses a scan header and decodes its entropy-coded data.
func (d *decoder) scan(seg []byte) error {
	if len(seg) < 1 {
		return corruptf("short SOS segment")
	}
	ns := int(seg[0])
	if ns < 1 || ns > 4 || len(seg) != 4+2*ns {
		return corruptf("SOS with %d components in %d bytes", ns, len(seg))
	}
	var sc scanHeader
	blocks := 0
	for i := 0; i < ns; i++ {
		id, t := seg[1+2*i], seg[2+2*i]
		ci := -1
		for j := range d.comps {
			if d.comps[j].id == id {
				ci = j
			}
		}
		if ci < 0 {
			return corruptf("scan component %d not in frame", id)
		}
		for _, prev := range sc.comps[:i] {
			if prev == ci {
				return corruptf("scan component %d repeated", id)
			}
		}
		td, ta := t>>4, t&15
		if td > 3 || ta > 3 {
			return corruptf("scan Huffman tables %d/%d", td, ta)
		}
		sc.comps[i], sc.td[i], sc.ta[i] = ci, td, ta
		blocks += d.comps[ci].h * d.comps[ci].v
	}
	sc.ns = ns
	sc.ss, sc.se, sc.ah, sc.al = int(seg[1+2*ns]), int(seg[2+2*ns]), int(seg[3+2*ns]>>4), int(seg[3+2*ns]&15)
	if ns > 1 && blocks > 10 && d.info.Process != 3 {
		return corruptf("MCU of %d blocks", blocks)
	}
	br := &bitReader{data: d.data, pos: d.pos}
	var err error
	if d.info.Process == 3 {
		err = d.losslessScan(&sc, br)
	} else {
		err = d.dctScan(&sc, br)
	}
	if err != nil {
		return err
	}
	d.pos = br.pos
	for _, ci := range sc.comps[:ns] {
		d.comps[ci].done = true
	}
	return nil
}

type scanHeader struct {
	ns             int
	comps          [4]int // component indexes
	td, ta         [4]byte
	ss, se, ah, al int
}
