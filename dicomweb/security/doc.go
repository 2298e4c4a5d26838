// Package security is the room of who may do what, and of the record of
// what was done:
//
//   - auth: authentication (OIDC bearer JWTs, API tokens, HTTP Basic),
//     roles, patient restrictions, the Route a front door declares with
//     its role, and the middleware that applies the route table;
//   - audit: the hash-chained ATNA audit trail (PS3.15 A.5), its syslog
//     forwarding, and the mapping of each operation to its ATNA event
//     (Trail);
//   - breakglass: emergency access of restricted readers to another
//     patient's study, for a stated reason and a limited time, audited;
//   - session: browser sign-in (OIDC code flow with PKCE) and its
//     server-side sessions;
//   - share: share links, a time-limited read-only link to one study,
//     and their study-restricted sessions (records and study lookup
//     through small interfaces: cmd/minipacs backs them by the index);
//   - transport: the exposure rule (no patient data on the network without
//     authentication and TLS), the TLS server configuration with
//     certificate reload, and the headers every response carries.
//
// Packages of this room may import dicomweb/kind and dicomweb/dicom; never
// dicomweb/archive, index or storage (TestRooms in package dicomweb
// checks it).
package security
