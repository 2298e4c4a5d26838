package jpeg2000

import (
	"encoding/binary"
	"fmt"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
)

// checkSIZ finds the codestream (inside the jp2c box of a JP2 file) and
// checks its SIZ marker against p before OpenJPEG sees the stream: OpenJPEG
// sizes its tile structures from SIZ while reading the header, so a hostile
// SIZ (huge image, tiny tiles) costs seconds and memory before any check of
// ours could run.
func checkSIZ(src []byte, jp2 bool, p codec.Params) error {
	cs := src
	if jp2 {
		var err error
		if cs, err = jp2Codestream(src); err != nil {
			return err
		}
	}
	if len(cs) < 4+38 || cs[0] != 0xFF || cs[1] != 0x4F || cs[2] != 0xFF || cs[3] != 0x51 {
		return fmt.Errorf("jpeg2000: decode: no SOC and SIZ markers: %w", codec.ErrCorrupt)
	}
	s := cs[4:]
	u32 := func(i int) uint64 { return uint64(binary.BigEndian.Uint32(s[i:])) }
	xsiz, ysiz, xo, yo := u32(4), u32(8), u32(12), u32(16)
	xt, yt, xto, yto := u32(20), u32(24), u32(28), u32(32)
	csiz := int(binary.BigEndian.Uint16(s[36:]))
	switch {
	case xsiz <= xo || ysiz <= yo || xt == 0 || yt == 0 || xto > xo || yto > yo:
		return fmt.Errorf("jpeg2000: decode: SIZ image %d..%d×%d..%d, tiles %d×%d: %w", xo, xsiz, yo, ysiz, xt, yt, codec.ErrCorrupt)
	case xsiz-xo != uint64(p.Columns) || ysiz-yo != uint64(p.Rows) || csiz != p.Samples:
		return fmt.Errorf("jpeg2000: decode: stream is %d×%d, %d components; want %d×%d, %d samples: %w",
			xsiz-xo, ysiz-yo, csiz, p.Columns, p.Rows, p.Samples, codec.ErrMismatch)
	}
	tiles := ((xsiz - xto + xt - 1) / xt) * ((ysiz - yto + yt - 1) / yt)
	if tiles > 65535 || tiles > uint64(p.Rows)*uint64(p.Columns) {
		return fmt.Errorf("jpeg2000: decode: %d tiles of %d×%d: %w", tiles, xt, yt, codec.ErrCorrupt)
	}
	return nil
}

// jp2Codestream returns the contents of the first jp2c box.
func jp2Codestream(b []byte) ([]byte, error) {
	for len(b) >= 8 {
		l := uint64(binary.BigEndian.Uint32(b))
		typ := string(b[4:8])
		hdr := uint64(8)
		switch l {
		case 0:
			l = uint64(len(b))
		case 1:
			if len(b) < 16 {
				return nil, fmt.Errorf("jpeg2000: decode: truncated JP2 box: %w", codec.ErrCorrupt)
			}
			l, hdr = binary.BigEndian.Uint64(b[8:]), 16
		}
		if l < hdr || l > uint64(len(b)) {
			if typ == "jp2c" && l >= hdr {
				l = uint64(len(b)) // a truncated last box: let the codec judge
			} else {
				return nil, fmt.Errorf("jpeg2000: decode: JP2 box %q of %d bytes: %w", typ, l, codec.ErrCorrupt)
			}
		}
		if typ == "jp2c" {
			return b[hdr:l], nil
		}
		b = b[l:]
	}
	return nil, fmt.Errorf("jpeg2000: decode: JP2 file without a codestream box: %w", codec.ErrCorrupt)
}
