package audit

import (
	"context"
	"fmt"
	"net"
)

// AssociationOutcome is how a DIMSE association ended, or was answered.
type AssociationOutcome uint8

// Association outcomes.
const (
	// AssociationAccepted: A-ASSOCIATE-AC sent.
	AssociationAccepted AssociationOutcome = iota + 1
	// AssociationRejected: A-ASSOCIATE-RJ sent (unknown calling AE or
	// address, wrong called AE, limits).
	AssociationRejected
	// AssociationReleased: A-RELEASE done.
	AssociationReleased
	// AssociationAborted: A-ABORT sent or received, or the connection broke.
	AssociationAborted
)

// Peer is a DIMSE peer as the audit trail names it: the calling AE title
// is the user, its address the remote (PS3.15 A.5.3: the requestor of a
// DICOM association is identified by its AE title).
func Peer(callingAE, remote string) User {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	return User{ID: callingAE, Method: "dicom-ae", Remote: host}
}

// Association records an association of the DIMSE front door:
//
//	accepted  110114 User Authentication, 110122 Login, success
//	released  110114 User Authentication, 110123 Logout, success
//	aborted   110114 User Authentication, 110123 Logout, minor failure
//	rejected  110113 Security Alert, 110126 Node Authentication, minor failure
//
// A rejection is durable before return (a security event, like a refused
// HTTP request); the others are written without holding the association.
func (t *Trail) Association(ctx context.Context, peer User, calledAE string, outcome AssociationOutcome, reason string) {
	rec, durable, ok := t.associationRecord(peer, calledAE, outcome, reason)
	if !ok {
		return
	}
	t.write(ctx, rec, durable)
}

func (t *Trail) associationRecord(peer User, calledAE string, outcome AssociationOutcome, reason string) (Record, bool, bool) {
	desc := func(verb string) string {
		d := fmt.Sprintf("DIMSE association to %s %s", calledAE, verb)
		if reason != "" {
			d += ": " + reason
		}
		return d
	}
	switch outcome {
	case AssociationAccepted:
		return t.node.Authentication(TypeLogin, peer, Success, desc("accepted")), false, true
	case AssociationReleased:
		return t.node.Authentication(TypeLogout, peer, Success, desc("released")), false, true
	case AssociationAborted:
		return t.node.Authentication(TypeLogout, peer, MinorFailure, desc("aborted")), false, true
	case AssociationRejected:
		return t.node.SecurityAlert(TypeNodeAuthentication, peer, "AE "+calledAE, MinorFailure, desc("rejected")), true, true
	}
	return Record{}, false, false
}

// Stored records a C-STORE answered with DIMSE status: 110104 Instances
// Transferred, action C, durable before return (before the C-STORE-RSP
// goes out, as a STOW record before its response). Success for 0x0000 and
// the warnings 0xBxxx, minor failure otherwise.
func (t *Trail) Stored(ctx context.Context, peer User, study StudyRef, sopClass string, status uint16) {
	t.write(ctx, t.storedRecord(peer, study, sopClass, status), true)
}

func (t *Trail) storedRecord(peer User, study StudyRef, sopClass string, status uint16) Record {
	o := Success
	if status != 0 && status&0xF000 != 0xB000 {
		o = MinorFailure
	}
	var studies []StudyRef
	if study.StudyUID != "" {
		studies = []StudyRef{study}
	}
	return t.node.Transferred(Create, peer, studies, o, fmt.Sprintf("C-STORE %s -> 0x%04X", sopClass, status))
}

// write records rec, before returning when durable, else in the
// background (Close waits for it).
func (t *Trail) write(ctx context.Context, rec Record, durable bool) {
	if durable {
		t.record(context.WithoutCancel(ctx), rec)
		return
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.record(context.Background(), rec)
	}()
}

// Queried records a C-FIND answered: 110112 Query, the information model
// as the query object's SOP class and the request's identifier, as
// received, as its query (PS3.15 A.5.3.12), written without holding the
// association.
func (t *Trail) Queried(ctx context.Context, peer User, sopClass, level string, identifier []byte, matches int, failed bool) {
	o := Success
	if failed {
		o = MinorFailure
	}
	rec := t.node.Query(peer, level, string(identifier), "", o, fmt.Sprintf("C-FIND %s -> %d matches", sopClass, matches))
	rec.ParticipantObjects[0].ID = sopClass
	t.write(ctx, rec, false)
}

// Retrieved records the C-STORE sub-operations of a C-MOVE or C-GET:
// 110104 Instances Transferred, action R, the studies sent, minor failure
// when a sub-operation failed.
func (t *Trail) Retrieved(ctx context.Context, peer User, destination string, refs []StudyRef, completed, failed int) {
	o := Success
	if failed > 0 {
		o = MinorFailure
	}
	desc := fmt.Sprintf("C-GET: %d sent, %d failed", completed, failed)
	if destination != "" {
		desc = fmt.Sprintf("C-MOVE to %s: %d sent, %d failed", destination, completed, failed)
	}
	t.write(ctx, t.node.Transferred(Read, peer, refs, o, desc), false)
}

// Committed records a storage commitment request answered: 110103
// Instances Accessed: PS3.15 has no storage commitment event;
// the instances were read back and checked, so it is an access (Read)
// whose outcome is minor failure when an instance failed or the result
// could not be delivered.
func (t *Trail) Committed(ctx context.Context, peer User, transactionUID string, committed, failed int, delivered bool) {
	o := Success
	if failed > 0 || !delivered {
		o = MinorFailure
	}
	desc := fmt.Sprintf("storage commitment %s: %d committed, %d failed", transactionUID, committed, failed)
	if !delivered {
		desc += ", result not delivered"
	}
	t.write(ctx, t.node.Accessed(Read, peer, nil, o, desc), false)
}
