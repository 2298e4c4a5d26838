// Package breakglass is emergency access ("break the glass") for users
// restricted to some patients: a reader asks, with a stated reason, for
// one study it may not see, and is granted its patient for a limited time.
//
// # Routes
//
//   - POST /auth/break-glass (role reader), body
//     {"study": "<Study Instance UID>", "reason": "<10 to 500 characters>"}:
//     writes a Security Alert (110113) of type Emergency Override Started
//     (110127) to the audit trail — the user, the study, its patient, the
//     grant id, the expiry and the reason — durable before the answer, then
//     grants the principal (Subject and Method) the study's patient (its
//     Patient ID and Issuer of Patient ID) until the expiry, and answers
//     201 with {id, study, patientID, issuerOfPatientID, start, expires}.
//     400: bad body or reason; 404: no such study; 409: the principal may
//     already see the patient (or is not restricted); 503: the cap of grants
//     is reached, or the audit record could not be written (no grant is
//     given without its record). A browser session needs its CSRF token,
//     as for any state-changing request (package auth).
//   - GET /admin/break-glass (role admin): the grants for review, newest
//     first, active and expired (within the retention): user, patient,
//     study, reason, start, expiry and the number of requests served
//     through each.
//
// With a zero Config.Duration the feature is off: both routes answer 404
// with a text that says so, and Filter is the plain restriction.
//
// # Grants
//
// Filter gives the front doors the patient test of a request: the
// principal's own Restriction, plus the patients of its active grants.
// A request served through a grant counts one use of it (Middleware makes
// the per-request record; Used lists the grants for the request's access
// audit record, which is otherwise the usual one).
//
// Grants live in memory: a restart ends them all (their audit records
// remain). With a Config.Store (an archive of several nodes on one
// database) each grant is also recorded there before it takes effect
// (503 when that fails, as for the audit record), and every node reads
// the store at most once a second, so a grant made through one node opens
// the patient on all within a second and survives restarts; the number of
// uses that GET /admin/break-glass shows is the answering node's. At most Config.MaxGrants are held, active or expired; expired
// grants are kept for review for Config.Retention (default 7 days) and are
// the first dropped when the cap is reached; when every held grant is
// active a new one is refused (503).
//
// This package is in room "security": it never imports the archive, the
// index or storage; the study's patient comes through Locator.
package breakglass
