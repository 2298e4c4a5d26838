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
	serviceFind
	serviceMove
	serviceGet
	serviceCommit
)

// Query/Retrieve information models (PS3.4 C.6) and Storage Commitment
// Push Model (PS3.4 J.3).
const (
	PatientRootFind = "1.2.840.10008.5.1.4.1.2.1.1"
	PatientRootMove = "1.2.840.10008.5.1.4.1.2.1.2"
	PatientRootGet  = "1.2.840.10008.5.1.4.1.2.1.3"
	StudyRootFind   = "1.2.840.10008.5.1.4.1.2.2.1"
	StudyRootMove   = "1.2.840.10008.5.1.4.1.2.2.2"
	StudyRootGet    = "1.2.840.10008.5.1.4.1.2.2.3"

	StorageCommitmentSOPClass    = "1.2.840.10008.1.20.1"
	StorageCommitmentSOPInstance = "1.2.840.10008.1.20.1.1"
)

// qrServices are the Query/Retrieve SOP classes we serve, with the
// operation each needs.
var qrServices = map[string]struct {
	svc  service
	need Op
}{
	PatientRootFind: {serviceFind, OpFind}, StudyRootFind: {serviceFind, OpFind},
	PatientRootMove: {serviceMove, OpMove}, StudyRootMove: {serviceMove, OpMove},
	PatientRootGet: {serviceGet, OpGet}, StudyRootGet: {serviceGet, OpGet},
	StorageCommitmentSOPClass: {serviceCommit, OpCommit},
	ModalityWorklistFind:      {serviceFind, OpFind},
}

// acceptedContext is a presentation context of the association.
type acceptedContext struct {
	abstractSyntax string
	transferSyntax string
	service        service
	// For storage contexts: the peer may send us C-STOREs (SCU role, the
	// default) and may receive C-STOREs from us (SCP role, by role
	// selection, for C-GET).
	peerSCU, peerSCP bool
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

// chooseLittleEndian picks Explicit, else Implicit VR Little Endian among
// the proposed syntaxes ("" for neither): the syntaxes of the identifiers
// and N-service data sets we read and write.
func chooseLittleEndian(proposed []string) string {
	for _, pref := range []string{part10.ExplicitVRLittleEndian, part10.ImplicitVRLittleEndian} {
		for _, p := range proposed {
			if p == pref {
				return pref
			}
		}
	}
	return ""
}

// negotiate answers each proposed presentation context given the
// operations the peer may perform, and the role selections of storage
// SOP classes (PS3.7 D.3.3.4): a peer that asks for the SCP role may
// receive the C-STOREs of its C-GETs on that context.
func negotiate(rq *associateRQ, ops Op, unknownSOPClasses bool) ([]contextResult, map[byte]*acceptedContext, []roleSelection) {
	results := make([]contextResult, 0, len(rq.contexts))
	accepted := map[byte]*acceptedContext{}
	proposedRoles := map[string]roleSelection{}
	for _, r := range rq.roles {
		proposedRoles[r.sopClass] = r
	}
	answered := map[string]roleSelection{}
	for _, pc := range rq.contexts {
		r := contextResult{id: pc.id, transferSyntax: pc.transferSyntaxes[0]}
		var svc service
		var need Op
		ts := chooseTransferSyntax(pc.transferSyntaxes)
		peerSCU, peerSCP := true, false
		switch q, isQR := qrServices[pc.abstractSyntax]; {
		case pc.abstractSyntax == VerificationSOPClass:
			svc, need = serviceVerification, OpEcho
		case isQR:
			svc, need = q.svc, q.need
			ts = chooseLittleEndian(pc.transferSyntaxes)
		case isStorageSOPClass(pc.abstractSyntax, unknownSOPClasses):
			svc, need = serviceStorage, OpStore
			if role, ok := proposedRoles[pc.abstractSyntax]; ok {
				peerSCU, peerSCP = role.scu && ops&OpStore != 0, role.scp && ops&OpGet != 0
				answered[pc.abstractSyntax] = roleSelection{sopClass: pc.abstractSyntax, scu: peerSCU, scp: peerSCP}
				if peerSCU || peerSCP {
					need = 0
				}
			}
		}
		switch {
		case svc == 0:
			r.result = resultAbstractNotSupported
		case ops&need == 0 && need != 0, svc == serviceStorage && !peerSCU && !peerSCP:
			r.result = resultUserRejection
		case ts == "":
			r.result = resultTransferNotSupported
		default:
			r.result, r.transferSyntax = resultAcceptance, ts
			accepted[pc.id] = &acceptedContext{abstractSyntax: pc.abstractSyntax, transferSyntax: ts, service: svc, peerSCU: peerSCU, peerSCP: peerSCP}
		}
		results = append(results, r)
	}
	var roles []roleSelection
	for _, r := range rq.roles { // in the order proposed, once each
		if a, ok := answered[r.sopClass]; ok {
			roles = append(roles, a)
			delete(answered, r.sopClass)
		}
	}
	return results, accepted, roles
}
