package dimse

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// Command fields (PS3.7 E.1).
const (
	CStoreRQ  uint16 = 0x0001
	CStoreRSP uint16 = 0x8001
	CGetRQ    uint16 = 0x0010
	CFindRQ   uint16 = 0x0020
	CFindRSP  uint16 = 0x8020
	CMoveRQ   uint16 = 0x0021
	CEchoRQ   uint16 = 0x0030
	CEchoRSP  uint16 = 0x8030
	CCancelRQ uint16 = 0x0FFF
)

// noDataSet is the Command Data Set Type that says no data set follows.
const noDataSet uint16 = 0x0101

// Command set element tags (group 0000).
const (
	tagGroupLength         uint32 = 0x00000000
	tagAffectedSOPClass    uint32 = 0x00000002
	tagRequestedSOPClass   uint32 = 0x00000003
	tagCommandField        uint32 = 0x00000100
	tagMessageID           uint32 = 0x00000110
	tagRespondedTo         uint32 = 0x00000120
	tagMoveDestination     uint32 = 0x00000600
	tagPriority            uint32 = 0x00000700
	tagDataSetType         uint32 = 0x00000800
	tagStatus              uint32 = 0x00000900
	tagOffendingElement    uint32 = 0x00000901
	tagErrorComment        uint32 = 0x00000902
	tagAffectedSOPInstance uint32 = 0x00001000
	tagRequestedSOPInst    uint32 = 0x00001001
	tagRemaining           uint32 = 0x00001020
	tagCompleted           uint32 = 0x00001021
	tagFailed              uint32 = 0x00001022
	tagWarning             uint32 = 0x00001023
	tagMoveOriginatorAE    uint32 = 0x00001030
	tagMoveOriginatorID    uint32 = 0x00001031
)

// Command is a DIMSE command set (PS3.7 9.3, 10.3): group 0000, always
// Implicit VR Little Endian. Decode keeps every element it reads in Raw;
// the named fields are the ones the services use.
type Command struct {
	Field               uint16 // (0000,0100)
	MessageID           uint16 // (0000,0110), requests
	RespondedTo         uint16 // (0000,0120), responses
	AffectedSOPClass    string // (0000,0002)
	AffectedSOPInstance string // (0000,1000)
	MoveDestination     string // (0000,0600), C-MOVE-RQ
	Priority            uint16 // (0000,0700)
	HasDataSet          bool   // (0000,0800) != 0x0101
	Status              uint16 // (0000,0900), responses
	ErrorComment        string // (0000,0902), responses
	// Raw holds every element decoded, by tag (group<<16 | element).
	Raw map[uint32][]byte
}

// maxElements caps the elements of a command set: PS3.7 defines about 40.
const maxElements = 64

// DecodeCommand parses a command set: a sequence of group 0000 elements in
// Implicit VR Little Endian, starting with (0000,0000) CommandGroupLength
// that counts the bytes after it. Every length is checked against the
// bytes left; an element outside group 0000 or a group length that does
// not match fails.
func DecodeCommand(b []byte) (*Command, error) {
	c := &Command{Raw: map[uint32][]byte{}}
	first := true
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, fmt.Errorf("dimse: command set: %d trailing bytes", len(b))
		}
		group, elem := binary.LittleEndian.Uint16(b[0:2]), binary.LittleEndian.Uint16(b[2:4])
		n := binary.LittleEndian.Uint32(b[4:8])
		if group != 0 {
			return nil, fmt.Errorf("dimse: command set: element (%04x,%04x) outside group 0000", group, elem)
		}
		if uint64(n) > uint64(len(b)-8) {
			return nil, fmt.Errorf("dimse: command set: element (0000,%04x) of %d bytes with %d left", elem, n, len(b)-8)
		}
		tag := uint32(elem)
		v := b[8 : 8+n]
		b = b[8+n:]
		if first {
			if tag != tagGroupLength || n != 4 || binary.LittleEndian.Uint32(v) != uint32(len(b)) {
				return nil, fmt.Errorf("dimse: command set: no valid CommandGroupLength")
			}
			first = false
			continue
		}
		if _, dup := c.Raw[tag]; dup || len(c.Raw) == maxElements {
			return nil, fmt.Errorf("dimse: command set: element (0000,%04x) repeated or too many elements", elem)
		}
		c.Raw[tag] = v
	}
	if first {
		return nil, fmt.Errorf("dimse: command set: empty")
	}
	us := func(tag uint32) (uint16, bool, error) {
		v, ok := c.Raw[tag]
		if !ok {
			return 0, false, nil
		}
		if len(v) != 2 {
			return 0, false, fmt.Errorf("dimse: command set: (0000,%04x) US of %d bytes", tag, len(v))
		}
		return binary.LittleEndian.Uint16(v), true, nil
	}
	var ok bool
	var err error
	if c.Field, ok, err = us(tagCommandField); err != nil || !ok {
		return nil, fmt.Errorf("dimse: command set: no Command Field")
	}
	dst, ok, err := us(tagDataSetType)
	if err != nil || !ok {
		return nil, fmt.Errorf("dimse: command set: no Command Data Set Type")
	}
	c.HasDataSet = dst != noDataSet
	for _, f := range []struct {
		tag uint32
		dst *uint16
	}{{tagMessageID, &c.MessageID}, {tagRespondedTo, &c.RespondedTo}, {tagPriority, &c.Priority}, {tagStatus, &c.Status}} {
		if *f.dst, _, err = us(f.tag); err != nil {
			return nil, err
		}
	}
	c.AffectedSOPClass = trimUID(c.Raw[tagAffectedSOPClass])
	c.AffectedSOPInstance = trimUID(c.Raw[tagAffectedSOPInstance])
	c.MoveDestination = trimAE(c.Raw[tagMoveDestination])
	c.ErrorComment = strings.TrimRight(string(c.Raw[tagErrorComment]), " \x00")
	return c, nil
}

// Encode returns the command set: the named fields (the UIDs padded with
// NUL, the strings with spaces, to even lengths), then any other element
// of Raw, in tag order, behind the CommandGroupLength.
func (c *Command) Encode() []byte {
	els := map[uint32][]byte{}
	for t, v := range c.Raw {
		els[t] = v
	}
	us := func(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
	str := func(s string, pad byte) []byte {
		b := []byte(s)
		if len(b)%2 == 1 {
			b = append(b, pad)
		}
		return b
	}
	els[tagCommandField] = us(c.Field)
	dst := noDataSet
	if c.HasDataSet {
		dst = 0x0000
	}
	els[tagDataSetType] = us(dst)
	if c.Field&0x8000 != 0 {
		els[tagRespondedTo] = us(c.RespondedTo)
		els[tagStatus] = us(c.Status)
		delete(els, tagMessageID)
	} else {
		els[tagMessageID] = us(c.MessageID)
		els[tagPriority] = us(c.Priority)
	}
	if c.AffectedSOPClass != "" {
		els[tagAffectedSOPClass] = str(c.AffectedSOPClass, 0)
	}
	if c.AffectedSOPInstance != "" {
		els[tagAffectedSOPInstance] = str(c.AffectedSOPInstance, 0)
	}
	if c.MoveDestination != "" {
		els[tagMoveDestination] = str(c.MoveDestination, ' ')
	}
	if c.ErrorComment != "" {
		els[tagErrorComment] = str(c.ErrorComment, ' ')
	}
	delete(els, tagGroupLength)
	tags := make([]uint32, 0, len(els))
	for t := range els {
		tags = append(tags, t)
	}
	slices.Sort(tags)
	var body []byte
	for _, t := range tags {
		body = binary.LittleEndian.AppendUint16(body, 0)
		body = binary.LittleEndian.AppendUint16(body, uint16(t))
		body = binary.LittleEndian.AppendUint32(body, uint32(len(els[t])))
		body = append(body, els[t]...)
	}
	b := make([]byte, 0, 12+len(body))
	b = append(b, 0, 0, 0, 0, 4, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...)
}
