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
func PatientLogicalID(k PatientKey) string {
	raw := k.raw()
	if len(raw) <= maxDirectKey {
		return idEncoding.EncodeToString([]byte(raw))
	}
	sum := sha256.Sum256([]byte(raw))
	return "h" + hex.EncodeToString(sum[:])[:40]
}

// parsePatientID reads a Patient logical id. For the direct form it
// returns the key; for the hashed form, hashed is true and only a scan
// comparing PatientLogicalID can find the patient. ok is false for an id
// that PatientLogicalID never gives.
func parsePatientID(id string) (k PatientKey, hashed, ok bool) {
	if len(id)%4 == 1 {
		if len(id) != 41 || id[0] != 'h' {
			return k, false, false
		}
		if _, err := hex.DecodeString(id[1:]); err != nil || strings.ToLower(id) != id {
			return k, false, false
		}
		return k, true, true
	}
	if id == "" || len(id) > 64 {
		return k, false, false
	}
	b, err := idEncoding.DecodeString(id)
	if err != nil || !utf8.Valid(b) {
		return k, false, false
	}
	issuer, pid, found := strings.Cut(string(b), "\x00")
	if !found || strings.Contains(pid, "\x00") {
		return k, false, false
	}
	k = PatientKey{ID: pid, Issuer: issuer}
	// Only the canonical encoding is an id (base64 may end in bits that
	// another text would set differently).
	if PatientLogicalID(k) != id {
		return k, false, false
	}
	return k, false, true
}

// ImagingStudyID is the FHIR id of the study with the Study Instance UID
// uid: the UID itself (digits and dots, at most 64 characters, all valid
// in a FHIR id and a URL path).
func ImagingStudyID(uid string) string { return uid }

// parseImagingStudyID reads an ImagingStudy logical id.
func parseImagingStudyID(id string) (string, bool) {
	return id, part10.ValidUID(id)
}
