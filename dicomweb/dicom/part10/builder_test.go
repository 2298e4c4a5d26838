package part10

import (
	"bytes"
	"encoding/binary"
)

// builder writes small Part-10 objects for tests.
type builder struct {
	buf bytes.Buffer
	enc encoding
}

// newPart10 writes the preamble, "DICM" and a file meta group naming ts.
func newPart10(ts string) *builder {
	b := &builder{}
	b.buf.Write(make([]byte, 128))
	b.buf.WriteString("DICM")
	meta := &builder{enc: explicitLE}
	meta.el(0x00020001, "OB", []byte{0, 1})
	meta.el(0x00020010, "UI", pad([]byte(ts), 0))
	b.enc = explicitLE
	b.el(0x00020000, "UL", le32(uint32(meta.buf.Len())))
	b.buf.Write(meta.buf.Bytes())
	si := syntaxes[ts]
	b.enc = encoding{explicit: si.ts.ExplicitVR || si.ts.UID == "", big: si.ts.BigEndian}
	return b
}

func pad(v []byte, c byte) []byte {
	if len(v)%2 == 1 {
		v = append(v, c)
	}
	return v
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func (b *builder) u16(v uint16) {
	if b.enc.big {
		b.buf.Write(binary.BigEndian.AppendUint16(nil, v))
	} else {
		b.buf.Write(binary.LittleEndian.AppendUint16(nil, v))
	}
}

func (b *builder) u32(v uint32) {
	if b.enc.big {
		b.buf.Write(binary.BigEndian.AppendUint32(nil, v))
	} else {
		b.buf.Write(binary.LittleEndian.AppendUint32(nil, v))
	}
}

// hdr writes an element header in the builder's encoding.
func (b *builder) hdr(t Tag, vr string, length uint32) {
	b.u16(t.Group())
	b.u16(t.Element())
	if t.Group() == 0xFFFE || !b.enc.explicit {
		b.u32(length)
		return
	}
	b.buf.WriteString(vr)
	if _, long := lookupVR(vr[0], vr[1]); long {
		b.u16(0)
		b.u32(length)
		return
	}
	b.u16(uint16(length))
}

func (b *builder) el(t Tag, vr string, v []byte) {
	b.hdr(t, vr, uint32(len(v)))
	b.buf.Write(v)
}

func (b *builder) str(t Tag, vr, s string) {
	c := byte(' ')
	if vr == "UI" {
		c = 0
	}
	b.el(t, vr, pad([]byte(s), c))
}

func (b *builder) us(t Tag, v uint16) {
	b.hdr(t, "US", 2)
	b.u16(v)
}

func (b *builder) item(length uint32) { b.hdr(TagItem, "", length) }
func (b *builder) itemEnd()           { b.hdr(TagItemDelimitation, "", 0) }
func (b *builder) seqEnd()            { b.hdr(TagSequenceDelimitation, "", 0) }

// image writes the usual image attributes.
func (b *builder) image(rows, cols, spp, bits uint16, frames string) {
	b.str(0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.7")
	b.str(0x00080018, "UI", "1.2.3.4")
	b.us(TagSamplesPerPixel, spp)
	b.str(TagPhotometricInterpretation, "CS", "MONOCHROME2")
	if frames != "" {
		b.str(TagNumberOfFrames, "IS", frames)
	}
	b.us(TagRows, rows)
	b.us(TagColumns, cols)
	b.us(TagBitsAllocated, bits)
}

func (b *builder) bytes() []byte { return bytes.Clone(b.buf.Bytes()) }
