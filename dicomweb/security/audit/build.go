package audit

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// User is the person or process behind a request, as authenticated.
type User struct {
	ID     string   // stable subject (token subject, API token name, Basic user); "" for anonymous
	Name   string   // display name, if known
	Method string   // how it authenticated: "bearer", "token", "basic", "none"
	Roles  []string // granted roles (reader, writer, admin)
	Remote string   // client IP address (or host name)
}

// StudyRef names a study an event touched. PatientName goes only into the
// audit trail, never into ordinary logs.
type StudyRef struct {
	StudyUID    string
	PatientID   string
	PatientName string
	Accession   string
	Instances   int      // number of instances concerned, when known
	SOPInstance []string // the instance UIDs concerned, when few (optional)
}

// Node identifies this minipacs instance: the application participant and
// the audit source of every record it builds.
type Node struct {
	App        string // application name; "minipacs" when empty
	Host       string // host name; os.Hostname() when empty
	SiteID     string // AuditEnterpriseSiteID, optional
	ListenAddr string // the address the server listens on, optional
}

// NewNode returns a Node with the defaults filled in.
func NewNode(app, site, listen string) Node {
	n := Node{App: app, SiteID: site, ListenAddr: listen}
	return n.filled()
}

func (n Node) filled() Node {
	if n.App == "" {
		n.App = "minipacs"
	}
	if n.Host == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		n.Host = h
	}
	return n
}

// Source is the AuditSourceIdentification of this node.
func (n Node) Source() AuditSource {
	n = n.filled()
	return AuditSource{ID: n.App + "@" + n.Host, EnterpriseSiteID: n.SiteID, TypeCode: []string{"4"}}
}

// application is the active participant for minipacs itself.
func (n Node) application(role *Code, requestor bool) ActiveParticipant {
	n = n.filled()
	p := ActiveParticipant{
		UserID:                     n.App,
		AlternativeUserID:          fmt.Sprint(os.Getpid()),
		UserIsRequestor:            requestor,
		NetworkAccessPointTypeCode: NetworkMachineName,
		NetworkAccessPointID:       n.Host,
	}
	if role != nil {
		p.RoleIDCode = []Code{*role}
	}
	return p
}

// participant is the active participant for the requesting user.
func (u User) participant(role *Code) ActiveParticipant {
	id := u.ID
	if id == "" {
		id = "anonymous"
	}
	p := ActiveParticipant{UserID: id, UserName: u.Name, UserIsRequestor: true}
	if role != nil {
		p.RoleIDCode = append(p.RoleIDCode, *role)
	}
	for _, r := range u.Roles {
		p.RoleIDCode = append(p.RoleIDCode, Code{Code: r, System: "minipacs-role", Display: r})
	}
	if u.Remote != "" {
		p.NetworkAccessPointID = u.Remote
		p.NetworkAccessPointTypeCode = NetworkMachineName
		if net.ParseIP(u.Remote) != nil {
			p.NetworkAccessPointTypeCode = NetworkIPAddress
		}
	}
	return p
}

func (n Node) record(id Code, a Action, o Outcome, desc string) Record {
	return Record{
		EventID:                 id,
		EventActionCode:         a,
		EventDateTime:           time.Now().UTC(),
		EventOutcomeIndicator:   o,
		EventOutcomeDescription: desc,
		AuditSource:             n.Source(),
	}
}

// studyObjects gives one participant object per study and one per distinct
// patient.
func studyObjects(studies []StudyRef) []ParticipantObject {
	var objs, patients []ParticipantObject
	seen := map[string]bool{}
	for _, s := range studies {
		if s.StudyUID != "" {
			o := ParticipantObject{
				TypeCode:     ObjectSystemObject,
				TypeCodeRole: ObjectRoleReport,
				IDTypeCode:   IDTypeStudyInstanceUID,
				ID:           s.StudyUID,
			}
			if s.Accession != "" || s.Instances > 0 || len(s.SOPInstance) > 0 {
				o.Description = &ObjectDescription{NumberOfInstances: s.Instances, SOPInstanceUIDs: s.SOPInstance}
				if s.Accession != "" {
					o.Description.Accession = []string{s.Accession}
				}
			}
			objs = append(objs, o)
		}
		if s.PatientID == "" || seen[s.PatientID+"\x00"+s.PatientName] {
			continue
		}
		seen[s.PatientID+"\x00"+s.PatientName] = true
		patients = append(patients, ParticipantObject{
			TypeCode:     ObjectPerson,
			TypeCodeRole: ObjectRolePatient,
			IDTypeCode:   IDTypePatientNumber,
			ID:           s.PatientID,
			Name:         s.PatientName,
		})
	}
	return append(objs, patients...)
}

// Transferred records DICOM Instances Transferred (110104): action Create
// for a STOW-RS receipt (the user is the source, minipacs the destination),
// Read for a WADO-RS retrieval of instances (minipacs is the source).
func (n Node) Transferred(a Action, u User, studies []StudyRef, o Outcome, desc string) Record {
	r := n.record(EventInstancesTransfer, a, o, desc)
	if a == Create || a == Update {
		r.ActiveParticipants = []ActiveParticipant{u.participant(&RoleSource), n.application(&RoleDestination, false)}
	} else {
		r.ActiveParticipants = []ActiveParticipant{n.application(&RoleSource, false), u.participant(&RoleDestination)}
	}
	r.ParticipantObjects = studyObjects(studies)
	return r
}

// Accessed records DICOM Instances Accessed (110103): reads that are not a
// transfer of instances (metadata, frames, rendered, thumbnails: action
// Read) and changes of stored instances (Update, Delete of parts).
func (n Node) Accessed(a Action, u User, studies []StudyRef, o Outcome, desc string) Record {
	r := n.record(EventInstancesAccessed, a, o, desc)
	r.ActiveParticipants = []ActiveParticipant{u.participant(nil), n.application(nil, false)}
	r.ParticipantObjects = studyObjects(studies)
	return r
}

// Deleted records DICOM Study Deleted (110105, action Delete).
func (n Node) Deleted(u User, studies []StudyRef, o Outcome, desc string) Record {
	r := n.record(EventStudyDeleted, Delete, o, desc)
	r.ActiveParticipants = []ActiveParticipant{u.participant(nil), n.application(nil, false)}
	r.ParticipantObjects = studyObjects(studies)
	return r
}

// StudyRootFind is the SOP Class UID recorded as the object of a QIDO-RS
// query: Study Root Query/Retrieve Information Model - FIND.
const StudyRootFind = "1.2.840.10008.5.1.4.1.2.2.1"

// maxQuery bounds the query text kept in a record.
const maxQuery = 8 << 10

// Query records a Query (110112, action Execute). level is the QIDO level
// (STUDY, SERIES, IMAGE); query is the request path and query string as
// received, kept up to 8 KiB. The user is the source, minipacs the
// destination. studyUID is set for a query inside one study, else "".
func (n Node) Query(u User, level, query, studyUID string, o Outcome, desc string) Record {
	r := n.record(EventQuery, Execute, o, desc)
	r.ActiveParticipants = []ActiveParticipant{u.participant(&RoleSource), n.application(&RoleDestination, false)}
	if len(query) > maxQuery {
		query = query[:maxQuery]
	}
	obj := ParticipantObject{
		TypeCode:     ObjectSystemObject,
		TypeCodeRole: ObjectRoleReport,
		IDTypeCode:   IDTypeSOPClassUID,
		ID:           StudyRootFind,
		Query:        []byte(query),
	}
	if level != "" {
		obj.Detail = []Detail{{Type: "QueryLevel", Value: strings.ToUpper(level)}}
	}
	r.ParticipantObjects = []ParticipantObject{obj}
	if studyUID != "" {
		r.ParticipantObjects = append(r.ParticipantObjects, studyObjects([]StudyRef{{StudyUID: studyUID}})...)
	}
	return r
}

// Authentication records User Authentication (110114, action Execute) with
// EventTypeCode Login or Logout. A refused login is MinorFailure; desc says
// why (never echoing the credential). The authentication method is kept in
// the description.
func (n Node) Authentication(typ Code, u User, o Outcome, desc string) Record {
	if u.Method != "" {
		if desc != "" {
			desc = "method=" + u.Method + ": " + desc
		} else {
			desc = "method=" + u.Method
		}
	}
	r := n.record(EventUserAuthentication, Execute, o, desc)
	r.EventTypeCode = []Code{typ}
	r.ActiveParticipants = []ActiveParticipant{u.participant(nil), n.application(nil, false)}
	return r
}

// SecurityAlert records a Security Alert (110113, action Execute). typ is
// one of the Type* security codes, e.g. TypeUseOfRestrictedFunction for a
// request refused for want of a role, TypeSecurityConfiguration for a TLS
// certificate reload. u is the user who caused it; a zero User means
// minipacs itself detected it (it is then the requestor). resource names
// what the alert is about (a URI or path), or "".
func (n Node) SecurityAlert(typ Code, u User, resource string, o Outcome, desc string) Record {
	r := n.record(EventSecurityAlert, Execute, o, desc)
	r.EventTypeCode = []Code{typ}
	if u.ID == "" && u.Remote == "" {
		r.ActiveParticipants = []ActiveParticipant{n.application(nil, true)}
	} else {
		r.ActiveParticipants = []ActiveParticipant{u.participant(nil), n.application(nil, false)}
	}
	if resource != "" {
		r.ParticipantObjects = []ParticipantObject{{
			TypeCode:     ObjectSystemObject,
			TypeCodeRole: ObjectRoleSecurityResource,
			IDTypeCode:   IDTypeURI,
			ID:           resource,
		}}
	}
	return r
}

// AppActivity records Application Activity (110100, action Execute) with
// TypeApplicationStart or TypeApplicationStop. launcher is the OS user
// that started the process, or "".
func (n Node) AppActivity(typ Code, launcher string, o Outcome, desc string) Record {
	r := n.record(EventApplicationActivity, Execute, o, desc)
	r.EventTypeCode = []Code{typ}
	app := n.application(&RoleApplication, false)
	if n.ListenAddr != "" {
		app.AlternativeUserID = n.ListenAddr
	}
	r.ActiveParticipants = []ActiveParticipant{app}
	if launcher != "" {
		r.ActiveParticipants = append(r.ActiveParticipants, ActiveParticipant{
			UserID: launcher, UserIsRequestor: true, RoleIDCode: []Code{RoleApplicationLauncher},
		})
	} else {
		r.ActiveParticipants[0].UserIsRequestor = true
	}
	return r
}
