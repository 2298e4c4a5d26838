package dimse

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// PDU types (PS3.8 9.3).
const (
	pduAssociateRQ byte = 0x01
	pduAssociateAC byte = 0x02
	pduAssociateRJ byte = 0x03
	pduPData       byte = 0x04
	pduReleaseRQ   byte = 0x05
	pduReleaseRP   byte = 0x06
	pduAbort       byte = 0x07
)

// Item types of the A-ASSOCIATE PDUs (PS3.8 9.3.2, 9.3.3, Annex D).
const (
	itemAppContext     byte = 0x10
	itemPresContextRQ  byte = 0x20
	itemPresContextAC  byte = 0x21
	itemAbstractSyntax byte = 0x30
	itemTransferSyntax byte = 0x40
	itemUserInfo       byte = 0x50
	itemMaxLength      byte = 0x51
	itemImplClassUID   byte = 0x52
	itemRoleSelection  byte = 0x54
	itemImplVersion    byte = 0x55
)

// ApplicationContext is the DICOM application context name (PS3.7 A.2.1).
const ApplicationContext = "1.2.840.10008.3.1.1.1"

// Implementation identity sent in every A-ASSOCIATE-AC and written in the
// File Meta group of every object received over DIMSE.
const (
	ImplementationClassUID    = "2.25.166637503791184298925760858508765509925"
	ImplementationVersionName = "MINIPACS"
)

// maxAssociatePDU caps an A-ASSOCIATE-RQ before any negotiation: 128
// presentation contexts with a dozen transfer syntaxes each, plus user
// identity tokens, fit well below it.
const maxAssociatePDU = 256 << 10

// A-ABORT sources and reasons (PS3.8 9.3.8).
const (
	abortSourceUser     byte = 0
	abortSourceProvider byte = 2

	abortNotSpecified      byte = 0
	abortUnrecognizedPDU   byte = 1
	abortUnexpectedPDU     byte = 2
	abortUnrecognizedParam byte = 4
	abortUnexpectedParam   byte = 5
	abortInvalidParamValue byte = 6
)

// A-ASSOCIATE-RJ result, source and reason (PS3.8 9.3.4).
const (
	rejectPermanent byte = 1
	rejectTransient byte = 2

	rejectSourceUser         byte = 1 // DICOM UL service-user
	rejectSourceACSE         byte = 2 // service-provider, ACSE related
	rejectSourcePresentation byte = 3 // service-provider, presentation related

	rejectNoReason            byte = 1 // source 1 or 2
	rejectAppContext          byte = 2 // source 1
	rejectCallingAE           byte = 3 // source 1
	rejectCalledAE            byte = 7 // source 1
	rejectProtocolVersion     byte = 2 // source 2
	rejectLocalLimitExceeded  byte = 2 // source 3
	rejectTemporaryCongestion byte = 1 // source 3
)

// Presentation context results (PS3.8 9.3.3.2).
const (
	resultAcceptance           byte = 0
	resultUserRejection        byte = 1
	resultAbstractNotSupported byte = 3
	resultTransferNotSupported byte = 4
)

// protocolError is a violation of PS3.8 that ends the association with an
// A-ABORT of the given reason.
type protocolError struct {
	reason byte
	msg    string
}

func (e *protocolError) Error() string { return "dimse: protocol error: " + e.msg }

func protoErr(reason byte, format string, args ...any) error {
	return &protocolError{reason: reason, msg: fmt.Sprintf(format, args...)}
}

// pduHeader is the 6-byte header of every PDU.
type pduHeader struct {
	typ    byte
	length uint32
}

func readPDUHeader(r io.Reader) (pduHeader, error) {
	var b [6]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return pduHeader{}, err
	}
	return pduHeader{typ: b[0], length: binary.BigEndian.Uint32(b[2:])}, nil
}

// presentationContext is one proposed presentation context.
type presentationContext struct {
	id               byte
	abstractSyntax   string
	transferSyntaxes []string
}

// roleSelection is an SCP/SCU Role Selection sub-item (PS3.7 D.3.3.4).
type roleSelection struct {
	sopClass string
	scu, scp bool
}

// associateRQ is a parsed A-ASSOCIATE-RQ.
type associateRQ struct {
	protocolVersion uint16
	calledAE        string
	callingAE       string
	rawCalled       [16]byte
	rawCalling      [16]byte
	appContext      string
	contexts        []presentationContext
	maxLength       uint32 // 0: no limit
	implClassUID    string
	implVersion     string
	roles           []roleSelection
}

// trimUID removes the NUL or space padding some peers add to UIDs.
func trimUID(b []byte) string { return strings.TrimRight(string(b), "\x00 ") }

// trimAE removes the insignificant spaces of an AE title (PS3.5 6.2).
func trimAE(b []byte) string { return strings.Trim(string(b), " \x00") }

// items walks the items of an A-ASSOCIATE PDU or of a sub-item list: each
// has a type byte, a reserved byte and a 2-byte big-endian length.
func items(b []byte, fn func(typ byte, val []byte) error) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return protoErr(abortInvalidParamValue, "truncated item header")
		}
		typ, n := b[0], int(binary.BigEndian.Uint16(b[2:4]))
		if n > len(b)-4 {
			return protoErr(abortInvalidParamValue, "item 0x%02x: length %d beyond its PDU", typ, n)
		}
		if err := fn(typ, b[4:4+n]); err != nil {
			return err
		}
		b = b[4+n:]
	}
	return nil
}

// parseAssociateRQ parses the variable part of an A-ASSOCIATE-RQ.
func parseAssociateRQ(b []byte) (*associateRQ, error) {
	if len(b) < 68 {
		return nil, protoErr(abortInvalidParamValue, "A-ASSOCIATE-RQ of %d bytes", len(b))
	}
	rq := &associateRQ{protocolVersion: binary.BigEndian.Uint16(b[0:2])}
	copy(rq.rawCalled[:], b[4:20])
	copy(rq.rawCalling[:], b[20:36])
	rq.calledAE, rq.callingAE = trimAE(b[4:20]), trimAE(b[20:36])
	seen := map[byte]bool{}
	var apps, users int
	err := items(b[68:], func(typ byte, v []byte) error {
		switch typ {
		case itemAppContext:
			apps++
			rq.appContext = trimUID(v)
		case itemPresContextRQ:
			if len(v) < 4 {
				return protoErr(abortInvalidParamValue, "presentation context item of %d bytes", len(v))
			}
			pc := presentationContext{id: v[0]}
			if pc.id%2 == 0 || seen[pc.id] {
				return protoErr(abortInvalidParamValue, "presentation context ID %d even or repeated", pc.id)
			}
			seen[pc.id] = true
			var abstracts int
			err := items(v[4:], func(st byte, sv []byte) error {
				switch st {
				case itemAbstractSyntax:
					abstracts++
					pc.abstractSyntax = trimUID(sv)
				case itemTransferSyntax:
					if len(pc.transferSyntaxes) == 64 {
						return protoErr(abortInvalidParamValue, "more than 64 transfer syntaxes in a presentation context")
					}
					pc.transferSyntaxes = append(pc.transferSyntaxes, trimUID(sv))
				default:
					return protoErr(abortUnrecognizedParam, "sub-item 0x%02x in a presentation context", st)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if abstracts != 1 || len(pc.transferSyntaxes) == 0 {
				return protoErr(abortInvalidParamValue, "presentation context %d: %d abstract syntaxes, %d transfer syntaxes", pc.id, abstracts, len(pc.transferSyntaxes))
			}
			rq.contexts = append(rq.contexts, pc)
		case itemUserInfo:
			users++
			u, err := parseUserInfo(v)
			if err != nil {
				return err
			}
			rq.maxLength, rq.implClassUID, rq.implVersion, rq.roles = u.maxLength, u.implClassUID, u.implVersion, u.roles
		}
		// Unknown item types are ignored (PS3.8 9.3.1).
		return nil
	})
	if err != nil {
		return nil, err
	}
	if apps != 1 || users > 1 {
		return nil, protoErr(abortInvalidParamValue, "%d application context items, %d user information items", apps, users)
	}
	if len(rq.contexts) == 0 || len(rq.contexts) > 128 {
		return nil, protoErr(abortInvalidParamValue, "%d presentation contexts", len(rq.contexts))
	}
	return rq, nil
}

// userInfo is what we read of a User Information item.
type userInfo struct {
	maxLength    uint32
	implClassUID string
	implVersion  string
	roles        []roleSelection
}

// parseUserInfo parses the sub-items of a User Information item. Other
// user information (asynchronous operations window, extended
// negotiation, user identity) is not negotiated: left out of our answers,
// it takes its default.
func parseUserInfo(v []byte) (userInfo, error) {
	var u userInfo
	err := items(v, func(st byte, sv []byte) error {
		switch st {
		case itemMaxLength:
			if len(sv) != 4 {
				return protoErr(abortInvalidParamValue, "maximum length sub-item of %d bytes", len(sv))
			}
			u.maxLength = binary.BigEndian.Uint32(sv)
		case itemImplClassUID:
			u.implClassUID = trimUID(sv)
		case itemImplVersion:
			u.implVersion = strings.TrimRight(string(sv), " \x00")
		case itemRoleSelection:
			r, err := parseRole(sv)
			if err != nil {
				return err
			}
			u.roles = append(u.roles, r)
		}
		return nil
	})
	return u, err
}

// contextResult is the answer to one presentation context.
type contextResult struct {
	id             byte
	result         byte
	transferSyntax string
}

// associateAC is what an A-ASSOCIATE-AC carries.
type associateAC struct {
	rawCalled, rawCalling [16]byte
	results               []contextResult
	maxLength             uint32
	// roles answers the role selections the requestor proposed.
	roles []roleSelection
}

// appendItem appends an item (or sub-item) header and value.
func appendItem(b []byte, typ byte, val []byte) []byte {
	b = append(b, typ, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(val)))
	return append(b, val...)
}

// encode returns the A-ASSOCIATE-AC PDU.
func (ac *associateAC) encode() []byte {
	b := []byte{pduAssociateAC, 0, 0, 0, 0, 0, 0, 1, 0, 0}
	b = append(b, ac.rawCalled[:]...)
	b = append(b, ac.rawCalling[:]...)
	b = append(b, make([]byte, 32)...)
	b = appendItem(b, itemAppContext, []byte(ApplicationContext))
	for _, r := range ac.results {
		v := []byte{r.id, 0, r.result, 0}
		v = appendItem(v, itemTransferSyntax, []byte(r.transferSyntax))
		b = appendItem(b, itemPresContextAC, v)
	}
	b = appendUserInfo(b, ac.maxLength, ac.roles)
	binary.BigEndian.PutUint32(b[2:6], uint32(len(b)-6))
	return b
}

// appendUserInfo appends our User Information item: the maximum length,
// our implementation class UID and version name, and role selections.
func appendUserInfo(b []byte, maxLength uint32, roles []roleSelection) []byte {
	var u []byte
	u = appendItem(u, itemMaxLength, binary.BigEndian.AppendUint32(nil, maxLength))
	u = appendItem(u, itemImplClassUID, []byte(ImplementationClassUID))
	for _, r := range roles {
		u = appendItem(u, itemRoleSelection, r.encode())
	}
	u = appendItem(u, itemImplVersion, []byte(ImplementationVersionName))
	return appendItem(b, itemUserInfo, u)
}

// encode returns the value of an SCP/SCU Role Selection sub-item.
func (r roleSelection) encode() []byte {
	v := binary.BigEndian.AppendUint16(nil, uint16(len(r.sopClass)))
	v = append(v, r.sopClass...)
	return append(v, b2u(r.scu), b2u(r.scp))
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// parseRole parses an SCP/SCU Role Selection sub-item.
func parseRole(sv []byte) (roleSelection, error) {
	if len(sv) < 4 {
		return roleSelection{}, protoErr(abortInvalidParamValue, "role selection sub-item of %d bytes", len(sv))
	}
	n := int(binary.BigEndian.Uint16(sv[0:2]))
	if n != len(sv)-4 {
		return roleSelection{}, protoErr(abortInvalidParamValue, "role selection: UID length %d in %d bytes", n, len(sv))
	}
	return roleSelection{sopClass: trimUID(sv[2 : 2+n]), scu: sv[2+n] == 1, scp: sv[3+n] == 1}, nil
}

// encode returns the A-ASSOCIATE-RQ PDU of an association we request.
func (rq *associateRQ) encode() []byte {
	b := []byte{pduAssociateRQ, 0, 0, 0, 0, 0, 0, 1, 0, 0}
	b = append(b, padAE(rq.calledAE)...)
	b = append(b, padAE(rq.callingAE)...)
	b = append(b, make([]byte, 32)...)
	b = appendItem(b, itemAppContext, []byte(ApplicationContext))
	for _, pc := range rq.contexts {
		v := []byte{pc.id, 0, 0, 0}
		v = appendItem(v, itemAbstractSyntax, []byte(pc.abstractSyntax))
		for _, ts := range pc.transferSyntaxes {
			v = appendItem(v, itemTransferSyntax, []byte(ts))
		}
		b = appendItem(b, itemPresContextRQ, v)
	}
	b = appendUserInfo(b, rq.maxLength, rq.roles)
	binary.BigEndian.PutUint32(b[2:6], uint32(len(b)-6))
	return b
}

// padAE returns an AE title as the 16 bytes of an A-ASSOCIATE PDU.
func padAE(ae string) []byte {
	b := []byte(ae)
	for len(b) < 16 {
		b = append(b, ' ')
	}
	return b[:16]
}

// parseAssociateAC parses the variable part of an A-ASSOCIATE-AC: the
// result of each presentation context, the acceptor's maximum length and
// its answers to our role selections.
func parseAssociateAC(b []byte) (*associateAC, error) {
	if len(b) < 68 {
		return nil, protoErr(abortInvalidParamValue, "A-ASSOCIATE-AC of %d bytes", len(b))
	}
	ac := &associateAC{}
	err := items(b[68:], func(typ byte, v []byte) error {
		switch typ {
		case itemPresContextAC:
			if len(v) < 4 {
				return protoErr(abortInvalidParamValue, "presentation context item of %d bytes", len(v))
			}
			r := contextResult{id: v[0], result: v[2]}
			err := items(v[4:], func(st byte, sv []byte) error {
				if st == itemTransferSyntax {
					r.transferSyntax = trimUID(sv)
				}
				return nil
			})
			if err != nil {
				return err
			}
			ac.results = append(ac.results, r)
		case itemUserInfo:
			u, err := parseUserInfo(v)
			if err != nil {
				return err
			}
			ac.maxLength, ac.roles = u.maxLength, u.roles
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ac, nil
}

// encodeReject returns an A-ASSOCIATE-RJ PDU.
func encodeReject(result, source, reason byte) []byte {
	return []byte{pduAssociateRJ, 0, 0, 0, 0, 4, 0, result, source, reason}
}

// encodeAbort returns an A-ABORT PDU.
func encodeAbort(source, reason byte) []byte {
	return []byte{pduAbort, 0, 0, 0, 0, 4, 0, 0, source, reason}
}

// encodeRelease returns an A-RELEASE-RQ or -RP PDU.
func encodeRelease(typ byte) []byte {
	return []byte{typ, 0, 0, 0, 0, 4, 0, 0, 0, 0}
}

// pdvHeader is the header of one PDV item of a P-DATA-TF: its fragment is
// length bytes long and follows.
type pdvHeader struct {
	length  uint32 // of the fragment, without the context ID and control header
	context byte
	command bool // else a data set fragment
	last    bool
}

// readPDVHeader reads a PDV item header from a P-DATA-TF with remaining
// bytes left in its variable field, and returns the header and the bytes
// left after its fragment.
func readPDVHeader(r io.Reader, remaining uint32) (pdvHeader, uint32, error) {
	if remaining < 6 {
		return pdvHeader{}, 0, protoErr(abortInvalidParamValue, "%d bytes left for a PDV item", remaining)
	}
	var b [6]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return pdvHeader{}, 0, err
	}
	n := binary.BigEndian.Uint32(b[0:4])
	if n < 2 || n > remaining-4 {
		return pdvHeader{}, 0, protoErr(abortInvalidParamValue, "PDV item length %d with %d bytes left", n, remaining-4)
	}
	mch := b[5]
	if mch&^3 != 0 {
		return pdvHeader{}, 0, protoErr(abortInvalidParamValue, "message control header 0x%02x", mch)
	}
	h := pdvHeader{length: n - 2, context: b[4], command: mch&1 != 0, last: mch&2 != 0}
	return h, remaining - 4 - n, nil
}

// putPDataHeader writes into b[:12] the header of a P-DATA-TF PDU of one
// PDV item whose n-byte fragment follows in b[12:].
func putPDataHeader(b []byte, context byte, command, last bool, n int) {
	b[0], b[1] = pduPData, 0
	binary.BigEndian.PutUint32(b[2:6], uint32(n+6))
	binary.BigEndian.PutUint32(b[6:10], uint32(n+2))
	var mch byte
	if command {
		mch |= 1
	}
	if last {
		mch |= 2
	}
	b[10], b[11] = context, mch
}

// appendPData appends a P-DATA-TF PDU of one PDV item carrying frag.
func appendPData(b []byte, context byte, command, last bool, frag []byte) []byte {
	var h [12]byte
	putPDataHeader(h[:], context, command, last, len(frag))
	return append(append(b, h[:]...), frag...)
}
