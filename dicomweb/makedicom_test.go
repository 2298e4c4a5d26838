package dicomweb_test

// A tiny Explicit VR Little Endian Part-10 writer, so that tests can make
// instances with the attributes they need.

import (
	"bytes"
	"encoding/binary"
	"sort"
)

type rel struct {
	tag uint32
	vr  string
	val []byte
}

func str(tag uint32, vr, v string) rel { return rel{tag, vr, []byte(v)} }

func longLen(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV":
		return true
	}
	return false
}

func encodeEls(els []rel) []byte {
	sort.SliceStable(els, func(i, j int) bool { return els[i].tag < els[j].tag })
	var b bytes.Buffer
	for _, e := range els {
		v := e.val
		if len(v)%2 == 1 {
			pad := byte(' ')
			if e.vr == "UI" || e.vr == "OB" || e.vr == "UN" {
				pad = 0
			}
			v = append(append([]byte{}, v...), pad)
		}
		binary.Write(&b, binary.LittleEndian, uint16(e.tag>>16))
		binary.Write(&b, binary.LittleEndian, uint16(e.tag))
		b.WriteString(e.vr)
		if longLen(e.vr) {
			b.Write([]byte{0, 0})
			binary.Write(&b, binary.LittleEndian, uint32(len(v)))
		} else {
			binary.Write(&b, binary.LittleEndian, uint16(len(v)))
		}
		b.Write(v)
	}
	return b.Bytes()
}

// makeDICOM returns a Part-10 file (Explicit VR Little Endian) of the data
// set elements; SOPClassUID and SOPInstanceUID for the meta group are taken
// from them.
func makeDICOM(els ...rel) []byte {
	var class, sop string
	for _, e := range els {
		switch e.tag {
		case 0x00080016:
			class = string(e.val)
		case 0x00080018:
			sop = string(e.val)
		}
	}
	meta := encodeEls([]rel{
		{0x00020001, "OB", []byte{0, 1}},
		str(0x00020002, "UI", class),
		str(0x00020003, "UI", sop),
		str(0x00020010, "UI", "1.2.840.10008.1.2.1"),
	})
	var b bytes.Buffer
	b.Write(make([]byte, 128))
	b.WriteString("DICM")
	gl := make([]byte, 4)
	binary.LittleEndian.PutUint32(gl, uint32(len(meta)))
	b.Write(encodeEls([]rel{{0x00020000, "UL", gl}}))
	b.Write(meta)
	b.Write(encodeEls(els))
	return b.Bytes()
}

const ctImage = "1.2.840.10008.5.1.4.1.1.2"

// inst is an instance description for makeInst.
type inst struct {
	study, series, sop string
	modality           string
	patientName        string
	patientID          string
	studyDate          string
	extra              []rel
}

func makeInst(in inst) []byte {
	els := []rel{
		str(0x00080016, "UI", ctImage),
		str(0x00080018, "UI", in.sop),
		str(0x0020000D, "UI", in.study),
		str(0x0020000E, "UI", in.series),
	}
	if in.modality != "" {
		els = append(els, str(0x00080060, "CS", in.modality))
	}
	if in.patientName != "" {
		els = append(els, str(0x00100010, "PN", in.patientName))
	}
	if in.patientID != "" {
		els = append(els, str(0x00100020, "LO", in.patientID))
	}
	if in.studyDate != "" {
		els = append(els, str(0x00080020, "DA", in.studyDate))
	}
	els = append(els, in.extra...)
	return makeDICOM(els...)
}
