package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Role is what a route requires.
type Role uint8

const (
	// Public routes answer anyone (health checks, static web assets).
	Public Role = iota
	// Authenticated routes answer any principal that presented a valid
	// credential, whatever its roles (and the anonymous principal when it
	// is granted any role, as in development without authentication).
	Authenticated
	// Reader may search (QIDO-RS) and retrieve (WADO-RS).
	Reader
	// Writer may store (STOW-RS). It does not imply Reader.
	Writer
	// Admin may delete and use the admin endpoints; it implies Reader and
	// Writer.
	Admin
)

// String is the role's name as used in configuration.
func (r Role) String() string {
	switch r {
	case Public:
		return "public"
	case Authenticated:
		return "authenticated"
	case Reader:
		return "reader"
	case Writer:
		return "writer"
	case Admin:
		return "admin"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// ParseRole parses a grantable role name: reader, writer or admin.
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "reader":
		return Reader, nil
	case "writer":
		return Writer, nil
	case "admin":
		return Admin, nil
	}
	return 0, fmt.Errorf("auth: unknown role %q (want reader, writer or admin)", s)
}

// Roles is a set of granted roles.
type Roles uint8

// RolesOf returns the set of the given roles.
func RolesOf(rs ...Role) Roles {
	var s Roles
	for _, r := range rs {
		s = s.With(r)
	}
	return s
}

// With returns s with r added. Public and Authenticated are not grantable
// and leave s unchanged.
func (s Roles) With(r Role) Roles {
	if r < Reader || r > Admin {
		return s
	}
	return s | 1<<(r-Reader)
}

func (s Roles) granted(r Role) bool { return r >= Reader && r <= Admin && s&(1<<(r-Reader)) != 0 }

// Has reports whether s satisfies a route that requires r: Admin implies
// Reader and Writer; Public is always satisfied. Authenticated is decided
// by the principal's Method (see Principal.Allowed), not by roles.
func (s Roles) Has(r Role) bool {
	switch r {
	case Public:
		return true
	case Reader, Writer:
		return s.granted(r) || s.granted(Admin)
	case Admin:
		return s.granted(Admin)
	}
	return false
}

// String lists the granted roles, comma-separated ("" for none).
func (s Roles) String() string {
	var out []string
	for _, r := range []Role{Reader, Writer, Admin} {
		if s.granted(r) {
			out = append(out, r.String())
		}
	}
	return strings.Join(out, ",")
}

// ParseRoles parses a comma-separated list of role names.
func ParseRoles(list string) (Roles, error) {
	var s Roles
	for f := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		r, err := ParseRole(f)
		if err != nil {
			return 0, err
		}
		s = s.With(r)
	}
	return s, nil
}

// Method names how a principal authenticated.
type Method string

const (
	MethodOIDC      Method = "oidc"
	MethodToken     Method = "token"
	MethodBasic     Method = "basic"
	MethodAnonymous Method = "anonymous"
	// MethodShare: a share link's session (package share): role Reader,
	// restricted to one study, read-only.
	MethodShare Method = "share"
)

// Principal is the authenticated client of a request.
type Principal struct {
	// Subject identifies the principal: the OIDC "sub" (prefixed by
	// nothing), the API token name or the Basic user name.
	Subject string
	// Name is a display name for the audit trail (preferred_username,
	// name or email for OIDC; the Subject otherwise).
	Name   string
	Method Method
	Roles  Roles
	// Restriction limits the patients the principal may see; nil means
	// unrestricted.
	Restriction *Restriction
}

// Allowed reports whether p may use a route that requires r.
func (p *Principal) Allowed(r Role) bool {
	if r == Public {
		return true
	}
	if p == nil {
		return false
	}
	if r == Authenticated {
		return (p.Method != MethodAnonymous && p.Method != "") || p.Roles != 0
	}
	return p.Roles.Has(r)
}

// AllowsPatient reports whether p may see the studies of a patient; a nil
// principal may not.
func (p *Principal) AllowsPatient(patientID, issuer string) bool {
	if p == nil {
		return false
	}
	return p.Restriction.AllowsPatient(patientID, issuer)
}

// AllowsStudy reports whether p may see a study, given its patient; a nil
// principal may not.
func (p *Principal) AllowsStudy(studyUID, patientID, issuer string) bool {
	if p == nil {
		return false
	}
	return p.Restriction.AllowsStudy(studyUID, patientID, issuer)
}

// PatientRef is an allowed patient: an ID, optionally qualified by its
// Issuer of Patient ID (0010,0021). Written "ID" or "ID^^^ISSUER" (the HL7
// CX form).
type PatientRef struct {
	ID     string
	Issuer string
}

// ParsePatientRef parses "ID" or "ID^^^ISSUER".
func ParsePatientRef(s string) PatientRef {
	id, issuer, _ := strings.Cut(strings.TrimSpace(s), "^^^")
	return PatientRef{ID: strings.TrimSpace(id), Issuer: strings.TrimSpace(issuer)}
}

// Restriction limits a principal to some patients. A study is allowed when
// every non-nil list allows it:
//   - Patients: its Patient ID equals one of them (and, when the entry has
//     an Issuer, its Issuer of Patient ID equals it too);
//   - Tenants: its Issuer of Patient ID (the assigning authority, which is
//     what separates the patient-ID namespaces of the sites sharing an
//     archive) is one of them;
//   - StudyUIDs: its Study Instance UID is one of them (a share link's
//     session, package share).
//
// A Restriction whose lists are all nil allows nothing: a principal is
// either unrestricted (nil *Restriction) or restricted to what is listed.
//
// A study restriction cannot be decided from a patient alone: the
// patient-level views (FHIR, IHE Invoke Image Display), which ask
// AllowsPatient, show a study-restricted principal no patient at all;
// DICOMweb asks AllowsStudy.
type Restriction struct {
	Patients  []PatientRef
	Tenants   []string
	StudyUIDs []string
}

// AllowsPatient reports whether r allows all the studies of the patient
// with this Patient ID and Issuer of Patient ID. A nil Restriction allows
// all; one with StudyUIDs allows no whole patient.
func (r *Restriction) AllowsPatient(patientID, issuer string) bool {
	if r == nil {
		return true
	}
	if r.StudyUIDs != nil {
		return false
	}
	return r.allowsPatient(patientID, issuer)
}

// AllowsStudy reports whether r allows the study studyUID of the patient
// with this Patient ID and Issuer of Patient ID. A nil Restriction allows
// all.
func (r *Restriction) AllowsStudy(studyUID, patientID, issuer string) bool {
	if r == nil {
		return true
	}
	if r.StudyUIDs != nil && !slices.Contains(r.StudyUIDs, studyUID) {
		return false
	}
	if r.StudyUIDs != nil && r.Patients == nil && r.Tenants == nil {
		return true
	}
	return r.allowsPatient(patientID, issuer)
}

// allowsPatient applies the patient and tenant lists.
func (r *Restriction) allowsPatient(patientID, issuer string) bool {
	if r.Patients == nil && r.Tenants == nil {
		return false
	}
	if r.Patients != nil && !slices.ContainsFunc(r.Patients, func(p PatientRef) bool {
		return p.ID == patientID && (p.Issuer == "" || p.Issuer == issuer)
	}) {
		return false
	}
	if r.Tenants != nil && !slices.Contains(r.Tenants, issuer) {
		return false
	}
	return true
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal of ctx, or nil when there is none.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
