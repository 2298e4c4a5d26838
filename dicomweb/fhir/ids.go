package fhir

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

// idEncoding is base64 with the alphabet of FHIR ids ([A-Za-z0-9\-\.]):
// '-' and '.' stand for base64's '+' and '/', without padding.
var idEncoding = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.").WithPadding(base64.NoPadding)

// maxDirectKey is the longest patient key that PatientLogicalID encodes
// directly: 48 bytes give 64 characters, the longest FHIR id.
const maxDirectKey = 48

// PatientKey is the key of a patient in the archive: Patient ID (0010,0020)
// and Issuer of Patient ID (0010,0021), either possibly empty.
type PatientKey struct {
	ID, Issuer string
}

func (k PatientKey) raw() string { return k.Issuer + "\x00" + k.ID }

// PatientLogicalID is the FHIR id of the patient with key k: the bytes
// Issuer, NUL, ID in base64 with the alphabet A-Z a-z 0-9 '-' '.' and no
// padding when they are at most 48 bytes (the id is then at most 64
// characters and decodes back to the key); else "h" followed by the first
// 40 hex digits of their SHA-256 (41 characters: no unpadded base64 text
// has a length of 4n+1, so the two forms never meet).
func PatientLogicalID(k PatientKey) string { return keyID(k.raw()) }

// parsePatientID reads a Patient logical id. For the direct form it
// returns the key; for the hashed form, hashed is true and only a scan
// comparing PatientLogicalID can find the patient. ok is false for an id
// that PatientLogicalID never gives.
func parsePatientID(id string) (k PatientKey, hashed, ok bool) {
	raw, hashed, ok := parseKeyID(id)
	if !ok || hashed {
		return k, hashed, ok
	}
	issuer, pid, found := strings.Cut(raw, "\x00")
	if !found || strings.Contains(pid, "\x00") {
		return k, false, false
	}
	return PatientKey{ID: pid, Issuer: issuer}, false, true
}

// keyID is the FHIR id of a record key (any non-empty bytes): the key in
// base64 with the alphabet A-Z a-z 0-9 '-' '.' and no padding when it is at
// most 48 bytes, else "h" and the first 40 hex digits of its SHA-256.
// Patients, ServiceRequests and DiagnosticReports use it.
func keyID(raw string) string {
	if len(raw) <= maxDirectKey {
		return idEncoding.EncodeToString([]byte(raw))
	}
	sum := sha256.Sum256([]byte(raw))
	return "h" + hex.EncodeToString(sum[:])[:40]
}

// parseKeyID reads an id that keyID gives: the key of the direct form, or
// hashed true for the hashed form (found only by a scan comparing keyID).
// ok is false for an id keyID never gives.
func parseKeyID(id string) (raw string, hashed, ok bool) {
	if len(id)%4 == 1 {
		if len(id) != 41 || id[0] != 'h' {
			return "", false, false
		}
		if _, err := hex.DecodeString(id[1:]); err != nil || strings.ToLower(id) != id {
			return "", false, false
		}
		return "", true, true
	}
	if id == "" || len(id) > 64 {
		return "", false, false
	}
	b, err := idEncoding.DecodeString(id)
	if err != nil || !utf8.Valid(b) || len(b) == 0 {
		return "", false, false
	}
	// Only the canonical encoding is an id (base64 may end in bits that
	// another text would set differently).
	if keyID(string(b)) != id {
		return "", false, false
	}
	return string(b), false, true
}

// ImagingStudyID is the FHIR id of the study with the Study Instance UID
// uid: the UID itself (digits and dots, at most 64 characters, all valid
// in a FHIR id and a URL path).
func ImagingStudyID(uid string) string { return uid }

// parseImagingStudyID reads an ImagingStudy logical id.
func parseImagingStudyID(id string) (string, bool) {
	return id, part10.ValidUID(id)
}
