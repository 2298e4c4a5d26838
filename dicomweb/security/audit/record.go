package audit

import (
	"errors"
	"fmt"
	"time"
)

// Code is a coded value: a code, its coding scheme and its meaning, as in
// the EV (code, scheme, "meaning") notation of PS3.15 A.5.
type Code struct {
	Code    string `json:"code"`
	System  string `json:"codeSystemName"`
	Display string `json:"displayName"`
}

func dcm(code, display string) Code { return Code{Code: code, System: "DCM", Display: display} }

// Audit Event IDs (PS3.16 CID 400) used by minipacs.
var (
	EventApplicationActivity = dcm("110100", "Application Activity")
	EventInstancesAccessed   = dcm("110103", "DICOM Instances Accessed")
	EventInstancesTransfer   = dcm("110104", "DICOM Instances Transferred")
	EventStudyDeleted        = dcm("110105", "DICOM Study Deleted")
	EventQuery               = dcm("110112", "Query")
	EventSecurityAlert       = dcm("110113", "Security Alert")
	EventUserAuthentication  = dcm("110114", "User Authentication")
)

// Audit Event Type Codes (PS3.16 CID 401): the sub-type of Application
// Activity, User Authentication and Security Alert events.
var (
	TypeApplicationStart                = dcm("110120", "Application Start")
	TypeApplicationStop                 = dcm("110121", "Application Stop")
	TypeLogin                           = dcm("110122", "Login")
	TypeLogout                          = dcm("110123", "Logout")
	TypeNodeAuthentication              = dcm("110126", "Node Authentication")
	TypeEmergencyOverrideStarted        = dcm("110127", "Emergency Override Started")
	TypeNetworkConfiguration            = dcm("110128", "Network Configuration")
	TypeSecurityConfiguration           = dcm("110129", "Security Configuration")
	TypeSoftwareConfiguration           = dcm("110131", "Software Configuration")
	TypeUseOfRestrictedFunction         = dcm("110132", "Use of Restricted Function")
	TypeAuditRecordingStopped           = dcm("110133", "Audit Recording Stopped")
	TypeAuditRecordingStarted           = dcm("110134", "Audit Recording Started")
	TypeObjectSecurityAttributesChanged = dcm("110135", "Object Security Attributes Changed")
	TypeSecurityRolesChanged            = dcm("110136", "Security Roles Changed")
	TypeUserSecurityAttributesChanged   = dcm("110137", "User security Attributes Changed")
)

// Active participant role IDs (PS3.16 CID 402).
var (
	RoleApplication         = dcm("110150", "Application")
	RoleApplicationLauncher = dcm("110151", "Application Launcher")
	RoleDestination         = dcm("110152", "Destination Role ID")
	RoleSource              = dcm("110153", "Source Role ID")
)

// Participant object ID type codes.
var (
	IDTypeStudyInstanceUID = dcm("110180", "Study Instance UID")
	IDTypeSOPClassUID      = dcm("110181", "SOP Class UID")
	IDTypeNodeID           = dcm("110182", "Node ID")
	IDTypePatientNumber    = Code{Code: "2", System: "RFC-3881", Display: "Patient Number"}
	IDTypeURI              = Code{Code: "12", System: "RFC-3881", Display: "URI"}
)

// Action is the EventActionCode.
type Action string

// Event action codes.
const (
	Create  Action = "C"
	Read    Action = "R"
	Update  Action = "U"
	Delete  Action = "D"
	Execute Action = "E"
)

func (a Action) valid() bool {
	switch a {
	case Create, Read, Update, Delete, Execute:
		return true
	}
	return false
}

// Outcome is the EventOutcomeIndicator.
type Outcome int

// Event outcome indicators.
const (
	Success        Outcome = 0
	MinorFailure   Outcome = 4  // the action was not completed, e.g. refused
	SeriousFailure Outcome = 8  // the action failed, e.g. a server error
	MajorFailure   Outcome = 12 // the action made the system unavailable
)

func (o Outcome) valid() bool {
	return o == Success || o == MinorFailure || o == SeriousFailure || o == MajorFailure
}

// OutcomeFromStatus maps an HTTP status to an outcome: 1xx-3xx success,
// 4xx minor failure (refused), 5xx serious failure.
func OutcomeFromStatus(status int) Outcome {
	switch {
	case status >= 500:
		return SeriousFailure
	case status >= 400:
		return MinorFailure
	}
	return Success
}

// Network access point type codes.
const (
	NetworkMachineName = 1
	NetworkIPAddress   = 2
)

// ActiveParticipant is a user or process taking part in the event.
type ActiveParticipant struct {
	UserID            string `json:"userID"`
	AlternativeUserID string `json:"alternativeUserID,omitempty"`
	UserName          string `json:"userName,omitempty"`
	UserIsRequestor   bool   `json:"userIsRequestor"`
	RoleIDCode        []Code `json:"roleIDCode,omitempty"`
	// NetworkAccessPointTypeCode is 1 (machine name) or 2 (IP address)
	// when NetworkAccessPointID is set.
	NetworkAccessPointTypeCode int    `json:"networkAccessPointTypeCode,omitempty"`
	NetworkAccessPointID       string `json:"networkAccessPointID,omitempty"`
}

// AuditSource identifies the system that detected the event.
type AuditSource struct {
	ID               string `json:"auditSourceID"`
	EnterpriseSiteID string `json:"auditEnterpriseSiteID,omitempty"`
	// TypeCode: "4" is an application server (RFC 3881).
	TypeCode []string `json:"auditSourceTypeCode,omitempty"`
}

// ObjectDescription carries the optional DICOM details of a study
// participant object.
type ObjectDescription struct {
	Accession         []string `json:"accession,omitempty"`
	NumberOfInstances int      `json:"numberOfInstances,omitempty"`
	SOPInstanceUIDs   []string `json:"sopInstanceUIDs,omitempty"`
}

// Detail is a ParticipantObjectDetail type-value pair.
type Detail struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Participant object type codes and roles (RFC 3881 as used by PS3.15).
const (
	ObjectPerson       = 1
	ObjectSystemObject = 2

	ObjectRolePatient          = 1
	ObjectRoleReport           = 3
	ObjectRoleSecurityResource = 13
)

// ParticipantObject is a thing the event acted on: a study, a patient, a
// query, a security resource.
type ParticipantObject struct {
	TypeCode     int    `json:"participantObjectTypeCode"`
	TypeCodeRole int    `json:"participantObjectTypeCodeRole,omitempty"`
	IDTypeCode   Code   `json:"participantObjectIDTypeCode"`
	ID           string `json:"participantObjectID"`
	// Name holds the patient name for a patient object. It is the only
	// place in minipacs where a patient name is written.
	Name string `json:"participantObjectName,omitempty"`
	// Query is the query as issued (for QIDO, the request path and query
	// string); encoded in JSON as base64, as the XML schema encodes it.
	Query       []byte             `json:"participantObjectQuery,omitempty"`
	Detail      []Detail           `json:"participantObjectDetail,omitempty"`
	Description *ObjectDescription `json:"participantObjectDescription,omitempty"`
}

// Record is one audit message: the content of a PS3.15 A.5.1 AuditMessage
// in JSON form (see the package documentation for the schema).
type Record struct {
	EventID                 Code                `json:"eventID"`
	EventActionCode         Action              `json:"eventActionCode"`
	EventDateTime           time.Time           `json:"eventDateTime"`
	EventOutcomeIndicator   Outcome             `json:"eventOutcomeIndicator"`
	EventOutcomeDescription string              `json:"eventOutcomeDescription,omitempty"`
	EventTypeCode           []Code              `json:"eventTypeCode,omitempty"`
	ActiveParticipants      []ActiveParticipant `json:"activeParticipant"`
	AuditSource             AuditSource         `json:"auditSourceIdentification"`
	ParticipantObjects      []ParticipantObject `json:"participantObjectIdentification,omitempty"`
}

// Validate checks the mandatory content of a record.
func (r *Record) Validate() error {
	var errs []error
	if r.EventID.Code == "" || r.EventID.System == "" {
		errs = append(errs, errors.New("eventID missing"))
	}
	if !r.EventActionCode.valid() {
		errs = append(errs, fmt.Errorf("eventActionCode %q: want C, R, U, D or E", r.EventActionCode))
	}
	if r.EventDateTime.IsZero() {
		errs = append(errs, errors.New("eventDateTime missing"))
	}
	if !r.EventOutcomeIndicator.valid() {
		errs = append(errs, fmt.Errorf("eventOutcomeIndicator %d: want 0, 4, 8 or 12", r.EventOutcomeIndicator))
	}
	if len(r.ActiveParticipants) == 0 {
		errs = append(errs, errors.New("no active participant"))
	}
	for i, p := range r.ActiveParticipants {
		if p.UserID == "" {
			errs = append(errs, fmt.Errorf("activeParticipant %d: userID missing", i))
		}
	}
	if r.AuditSource.ID == "" {
		errs = append(errs, errors.New("auditSourceID missing"))
	}
	for i, o := range r.ParticipantObjects {
		if o.ID == "" || o.IDTypeCode.Code == "" {
			errs = append(errs, fmt.Errorf("participantObject %d: ID or ID type missing", i))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("audit record: %w", err)
	}
	return nil
}
