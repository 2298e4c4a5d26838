package dimse

import (
	"strings"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

// VerificationSOPClass is the abstract syntax of C-ECHO.
const VerificationSOPClass = "1.2.840.10008.1.1"

// service is what an accepted presentation context is for.
type service uint8

const (
	serviceVerification service = iota + 1
	serviceStorage
)

// acceptedContext is a presentation context of the association.
type acceptedContext struct {
	abstractSyntax string
	transferSyntax string
	service        service
}

// otherStorageSOPClasses are the storage SOP classes outside
// 1.2.840.10008.5.1.4.1.1 (PS3.4 B.5).
var otherStorageSOPClasses = map[string]bool{
	"1.2.840.10008.5.1.4.34.7":  true, // RT Beams Delivery Instruction
	"1.2.840.10008.5.1.4.34.10": true, // RT Brachy Application Setup Delivery Instruction
	"1.2.840.10008.5.1.4.38.1":  true, // Hanging Protocol
	"1.2.840.10008.5.1.4.39.1":  true, // Color Palette
	"1.2.840.10008.5.1.4.43.1":  true, // Generic Implant Template
	"1.2.840.10008.5.1.4.44.1":  true, // Implant Assembly Template
	"1.2.840.10008.5.1.4.45.1":  true, // Implant Template Group
}

// isStorageSOPClass reports whether uid is a standard storage SOP class,
// or (with unknown) any valid UID outside the DICOM root, that is a
// private SOP class.
func isStorageSOPClass(uid string, unknown bool) bool {
	if !part10.ValidUID(uid) {
		return false
	}
	if strings.HasPrefix(uid, "1.2.840.10008.5.1.4.1.1.") || otherStorageSOPClasses[uid] {
		return true
	}
	return unknown && !strings.HasPrefix(uid, "1.2.840.10008.")
}

// isNative reports whether ts is one of the uncompressed, undeflated
// syntaxes, any of which carries the same data.
func isNative(ts string) bool {
	return ts == part10.ImplicitVRLittleEndian || ts == part10.ExplicitVRLittleEndian || ts == part10.ExplicitVRBigEndian
}

// chooseTransferSyntax picks the transfer syntax of a presentation
// context among the proposed ones, "" when part10 knows none of them. The
// first known one the peer proposes wins, so that compressed objects are
// sent, and stored, as they are; when that one is native, Explicit VR
// Little Endian is preferred if proposed, then Implicit VR Little Endian
// (always acceptable).
func chooseTransferSyntax(proposed []string) string {
	for _, ts := range proposed {
		if _, ok := part10.LookupTransferSyntax(ts); !ok {
			continue
		}
		if !isNative(ts) {
			return ts
		}
		for _, pref := range []string{part10.ExplicitVRLittleEndian, part10.ImplicitVRLittleEndian} {
			for _, p := range proposed {
				if p == pref {
					return pref
				}
			}
		}
		return ts
	}
	return ""
}

// negotiate answers each proposed presentation context given the
// operations the peer may perform.
func negotiate(rq *associateRQ, ops Op, unknownSOPClasses bool) ([]contextResult, map[byte]*acceptedContext) {
	results := make([]contextResult, 0, len(rq.contexts))
	accepted := map[byte]*acceptedContext{}
	for _, pc := range rq.contexts {
		r := contextResult{id: pc.id, transferSyntax: pc.transferSyntaxes[0]}
		var svc service
		var need Op
		switch {
		case pc.abstractSyntax == VerificationSOPClass:
			svc, need = serviceVerification, OpEcho
		case isStorageSOPClass(pc.abstractSyntax, unknownSOPClasses):
			svc, need = serviceStorage, OpStore
		}
		ts := chooseTransferSyntax(pc.transferSyntaxes)
		switch {
		case svc == 0:
			r.result = resultAbstractNotSupported
		case ops&need == 0:
			r.result = resultUserRejection
		case ts == "":
			r.result = resultTransferNotSupported
		default:
			r.result, r.transferSyntax = resultAcceptance, ts
			accepted[pc.id] = &acceptedContext{abstractSyntax: pc.abstractSyntax, transferSyntax: ts, service: svc}
		}
		results = append(results, r)
	}
	return results, accepted
}
