// Package share is share links: a time-limited, read-only link to one
// study for someone without an account (a referring physician), made by
// an administrator or by a reader who may see the study, revocable, and
// audited.
//
// # Routes
//
//   - POST /shares (Reader): JSON {"study": "<Study Instance UID>",
//     "hours": N, "seconds": S} (seconds optional, added to hours: short
//     links and tests); the lifetime must be positive and at most the
//     configured maximum (--share-max-hours). The creator must be able to
//     see the study (patient restriction: 404 otherwise, as for DICOMweb);
//     a share session cannot make links. 201 {"id", "url", "study",
//     "expires"}: url is <origin>/share/<token>.
//   - DELETE /shares/{id} (Reader; an administrator, or the link's
//     creator): revokes the link (204; again: 204). Open sessions of the
//     link end at once.
//   - GET /admin/shares (Admin): every link, active or not, oldest first
//     (JSON array of View: never the token).
//   - GET /share/{token} (Public): an unknown, malformed, expired or
//     revoked link answers 401 with one fixed text (what was wrong goes to
//     the audit trail only); a valid one starts a share session (cookie)
//     and answers 303 to the viewer, /viewer/viewer?StudyInstanceUIDs=
//     <uid>, so the token leaves the address bar at once. The page is
//     no-store and no-referrer.
//
// # Tokens
//
// A token is "<id>.<secret>": id is 128 random bits and secret 256 random
// bits, both base64url. The record (index kind r_share, key id) keeps the
// study, the creator, the times and the SHA-256 of the secret, never the
// secret: the index, its backups and GET /admin/shares give no usable
// link; expiry and study are read from the record, so a token needs no
// signature and there is no key file to guard; revocation is a field of
// the record, so it survives restarts. The token is compared in constant
// time. Routes are logged by pattern (/share/:token), never the path.
//
// # Share sessions
//
// A share session is a principal with method "share", role Reader, and a
// Restriction to the one study (auth.Restriction.StudyUIDs): DICOMweb
// QIDO lists only that study and WADO answers 404 for any other; the
// patient-level views (FHIR, IHE Invoke Image Display) show it nothing.
// It is read-only: its CSRF token is empty, so every state-changing
// request with its cookie is refused (403) by package auth. Sessions are
// in memory (a restart ends them; the link opens a new one), keyed by 256
// random bits in the cookie "minipacs_share" ("__Host-minipacs_share"
// over TLS; HttpOnly, SameSite=Lax, Path=/), and end at the link's expiry
// or after the session maximum age, whichever is first, or when the link
// is revoked.
//
// # Audit (package audit, Trail.Share)
//
//	created   110113 Security Alert, type 110135 Object Security Attributes Changed (creator; study, patient, share:<id>)
//	revoked   110113, type 110135 (who revoked)
//	opened    110103 DICOM Instances Accessed, R (user share:<id>; study, patient)
//	refused   110113, type 110132 Use of Restricted Function, minor failure (reason: unknown, malformed, wrong secret, expired, revoked, disabled)
//
// What a share session then reads is recorded per request like any access,
// with the user share:<id>.
package share
