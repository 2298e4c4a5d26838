package part10

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// FileMeta returns the first bytes of a Part-10 object whose data set is
// to follow (PS3.10 7.1): a zero preamble, "DICM" and the File Meta group
// in Explicit VR Little Endian, with its group length, the SOP class and
// instance, the transfer syntax and the implementation's class UID and
// version name. It depends on its arguments only (no Source AE Title, no
// time), so the same instance received twice makes the same bytes.
func FileMeta(sopClass, sopInstance, transferSyntax, implClassUID, implVersion string) []byte {
	var g []byte
	el := func(elem uint16, vr string, val string, pad byte) {
		if len(val)%2 == 1 {
			val += string(pad)
		}
		g = binary.LittleEndian.AppendUint16(g, 0x0002)
		g = binary.LittleEndian.AppendUint16(g, elem)
		g = append(g, vr...)
		g = binary.LittleEndian.AppendUint16(g, uint16(len(val)))
		g = append(g, val...)
	}
	// (0002,0001) File Meta Information Version, OB 00\01.
	g = append(g, 0x02, 0x00, 0x01, 0x00, 'O', 'B', 0, 0, 2, 0, 0, 0, 0x00, 0x01)
	el(0x0002, "UI", sopClass, 0)
	el(0x0003, "UI", sopInstance, 0)
	el(0x0010, "UI", transferSyntax, 0)
	el(0x0012, "UI", implClassUID, 0)
	el(0x0013, "SH", implVersion, ' ')
	b := make([]byte, 128, 128+4+12+len(g))
	b = append(b, "DICM"...)
	b = append(b, 0x02, 0x00, 0x00, 0x00, 'U', 'L', 4, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(g)))
	return append(b, g...)
}

// MetaEnd reads a Part-10 object's preamble, magic and file meta group
// from r, by the group length (0002,0000) that must come first, and
// returns the offset of the data set. It reads no further: r is then at
// the data set. A group without that length (tolerated by Parse) is an
// error here.
func MetaEnd(r *bufio.Reader) (int64, error) {
	var head [132 + 12]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, err
	}
	el := head[132:]
	if string(head[128:132]) != "DICM" || binary.LittleEndian.Uint32(el[0:4]) != 0x0000_0002 || string(el[4:6]) != "UL" || binary.LittleEndian.Uint16(el[6:8]) != 4 {
		return 0, fmt.Errorf("no file meta group length")
	}
	n := int64(binary.LittleEndian.Uint32(el[8:12]))
	if _, err := r.Discard(int(min(n, 1<<20))); err != nil || n > 1<<20 {
		return 0, fmt.Errorf("file meta group: %v", err)
	}
	return int64(len(head)) + n, nil
}
