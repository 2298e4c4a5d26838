package audit

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/minipacs/minipacs/dicomweb/security/auth"
)

// Operation is what a request did with patient data; each has its ATNA
// event (see Trail.Access).
type Operation uint8

// Operations on patient data.
const (
	// OpStore: instances received (STOW-RS): 110104, action C, durable.
	OpStore Operation = iota + 1
	// OpRetrieve: instances sent (WADO-RS, ZIP download): 110104, action R.
	OpRetrieve
	// OpRead: metadata, frames, bulk data, rendered: 110103, action R.
	OpRead
	// OpQuery: a search (QIDO-RS): 110112.
	OpQuery
	// OpDelete: a study, series or instance deleted: 110105, durable.
	OpDelete
)

// Access is one request's access to patient data.
type Access struct {
	Op     Operation
	Status int // the HTTP status answered
	// Level is the query level of an OpQuery ("study", "series",
	// "instance"); Query its request path and query string.
	Level, Query string
	Studies      []StudyRef
	// Overrides are the ids of the break-glass grants the request was
	// served through (see EmergencyOverride), noted in the description.
	Overrides []string
}

// Trail writes the audit trail of a running server: it maps each access
// to patient data, each refused request and the application's start and
// stop to its ATNA record (see the table in the package doc), and decides
// which records are durable before the response is sent. Records of
// changes (store, delete) and of security events are written before the
// method returns; records of reads are written without holding the
// response (the log batches and syncs them within milliseconds), and Close
// waits for them.
type Trail struct {
	log      *Log
	node     Node
	launcher string
	slog     *slog.Logger
	wg       sync.WaitGroup
}

// NewTrail returns the trail that writes to l as node; launcher is the
// user who started the application (for 110100 Application Activity).
func NewTrail(l *Log, node Node, launcher string, logger *slog.Logger) *Trail {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Trail{log: l, node: node, launcher: launcher, slog: logger}
}

// Start records the Application Start (110100, type 110120); desc names
// the application and its version.
func (t *Trail) Start(ctx context.Context, desc string) {
	t.record(ctx, t.node.AppActivity(TypeApplicationStart, t.launcher, Success, desc))
}

// Close waits for the pending records, records the Application Stop
// (110100, type 110121) and closes the log. A nil Trail (no audit trail
// configured) does nothing.
func (t *Trail) Close() error {
	if t == nil {
		return nil
	}
	t.wg.Wait()
	t.record(context.Background(), t.node.AppActivity(TypeApplicationStop, t.launcher, Success, ""))
	return t.log.Close()
}

func (t *Trail) record(ctx context.Context, r Record) {
	if err := t.log.Record(ctx, r); err != nil {
		t.slog.Error("audit record not written", "event", r.EventID.Code, "err", err)
	}
}

// UserOf describes the principal of r (auth.FromContext of ctx) for the
// audit trail; Remote is the TCP peer of r.
func UserOf(ctx context.Context, r *http.Request) User {
	u := User{Method: "none"}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		u.Remote = host
	}
	if p := auth.FromContext(ctx); p != nil {
		u.ID, u.Name, u.Method = p.Subject, p.Name, string(p.Method)
		if s := p.Roles.String(); s != "" {
			u.Roles = strings.Split(s, ",")
		}
	}
	return u
}

// Access records the access a of request r (the user from UserOf):
//
//	OpStore     110104 Instances Transferred, C  durable before return
//	OpDelete    110105 Study Deleted, D          durable before return
//	OpRetrieve  110104 Instances Transferred, R
//	OpRead      110103 Instances Accessed, R
//	OpQuery     110112 Query (the study when the search names one)
//
// The outcome follows a.Status (OutcomeFromStatus); the description is
// "METHOD PATH -> STATUS", followed by " (break-glass grant ID,...)" when
// a.Overrides names grants. An unknown operation records nothing.
func (t *Trail) Access(ctx context.Context, r *http.Request, a Access) {
	rec, durable, ok := t.accessRecord(UserOf(ctx, r), r.Method, r.URL.Path, a)
	if !ok {
		return
	}
	t.write(ctx, rec, durable)
}

// accessRecord builds the record of a, and says whether it must be durable
// before the response.
func (t *Trail) accessRecord(u User, method, path string, a Access) (rec Record, durable, ok bool) {
	o := OutcomeFromStatus(a.Status)
	desc := fmt.Sprintf("%s %s -> %d", method, path, a.Status) + overrideNote(a.Overrides)
	switch a.Op {
	case OpStore:
		return t.node.Transferred(Create, u, a.Studies, o, desc), true, true
	case OpDelete:
		return t.node.Deleted(u, a.Studies, o, desc), true, true
	case OpRetrieve:
		return t.node.Transferred(Read, u, a.Studies, o, desc), false, true
	case OpRead:
		return t.node.Accessed(Read, u, a.Studies, o, desc), false, true
	case OpQuery:
		study := ""
		if len(a.Studies) == 1 {
			study = a.Studies[0].StudyUID
		}
		return t.node.Query(u, a.Level, a.Query, study, o, desc), false, true
	}
	return Record{}, false, false
}

// OnAuth records refused requests (use it as auth.Hooks.OnAuth): 403 as a
// Security Alert (110113, type 110132 Use of Restricted Function, minor
// failure), any other refusal (401, 503) as a failed User Authentication
// (110114, type 110122 Login). A successful authentication is part of the
// access record of its request (its user), so each request gives exactly
// one record. Records are durable before return.
func (t *Trail) OnAuth(ctx context.Context, ev auth.AuthEvent) {
	if rec, ok := t.authRecord(ev); ok {
		t.record(context.WithoutCancel(ctx), rec)
	}
}

func (t *Trail) authRecord(ev auth.AuthEvent) (Record, bool) {
	if ev.Success {
		return Record{}, false
	}
	u := User{ID: "", Method: "none", Remote: ev.Remote}
	if ev.Principal != nil {
		u.ID, u.Name, u.Method = ev.Principal.Subject, ev.Principal.Name, string(ev.Principal.Method)
	}
	desc := fmt.Sprintf("%s %s -> %d: %s", ev.HTTPMethod, ev.Route, ev.Status, ev.Reason)
	if ev.Status == http.StatusForbidden {
		return t.node.SecurityAlert(TypeUseOfRestrictedFunction, u, ev.Route, MinorFailure, desc), true
	}
	return t.node.Authentication(TypeLogin, u, OutcomeFromStatus(ev.Status), desc), true
}
