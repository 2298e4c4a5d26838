package audit

import (
	"context"
	"fmt"
	"net/http"
)

// ShareOp is what happened to a share link (package share).
type ShareOp uint8

// Share link events.
const (
	// ShareCreated: a link to a study was made: 110113 Security Alert,
	// type 110135 Object Security Attributes Changed (the study became
	// readable through the link), durable.
	ShareCreated ShareOp = iota + 1
	// ShareRevoked: a link was revoked: 110113, type 110135, durable.
	ShareRevoked
	// ShareOpened: a valid link was opened and its session started:
	// 110103 DICOM Instances Accessed, action R, the user being the share
	// (what the session then reads is recorded per request, as any
	// access), durable.
	ShareOpened
	// ShareRefused: an unknown, expired, revoked or malformed link was
	// presented: 110113, type 110132 Use of Restricted Function, minor
	// failure, durable.
	ShareRefused
)

// Share is one share link event. ID is the share's public id (never the
// link's secret); Study the shared study (unknown for most refusals);
// Reason why a link was refused.
type Share struct {
	Op     ShareOp
	ID     string
	Study  StudyRef
	Reason string
}

// Share records the share link event s of request r (the user from
// UserOf: the creator or revoker; for ShareOpened the share's principal,
// which the caller puts in ctx). Records are durable before return.
func (t *Trail) Share(ctx context.Context, r *http.Request, s Share) {
	if rec, ok := t.shareRecord(UserOf(ctx, r), s); ok {
		t.write(ctx, rec, true)
	}
}

func (t *Trail) shareRecord(u User, s Share) (Record, bool) {
	resource := "share:" + s.ID
	var studies []StudyRef
	if s.Study.StudyUID != "" {
		studies = []StudyRef{s.Study}
	}
	switch s.Op {
	case ShareCreated, ShareRevoked:
		what := "created"
		if s.Op == ShareRevoked {
			what = "revoked"
		}
		rec := t.node.SecurityAlert(TypeObjectSecurityAttributesChanged, u, resource, Success,
			fmt.Sprintf("share link %s %s for study %s", s.ID, what, s.Study.StudyUID))
		rec.ParticipantObjects = append(rec.ParticipantObjects, studyObjects(studies)...)
		return rec, true
	case ShareOpened:
		return t.node.Accessed(Read, u, studies, Success, "share link "+s.ID+" opened"), true
	case ShareRefused:
		if s.ID == "" {
			resource = "share:?"
		}
		return t.node.SecurityAlert(TypeUseOfRestrictedFunction, u, resource, MinorFailure, "share link refused: "+s.Reason), true
	}
	return Record{}, false
}
