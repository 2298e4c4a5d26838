// Package security is the room of who may do what, and of the record of
// what was done:
//
//   - auth: authentication (OIDC bearer JWTs, API tokens, HTTP Basic),
//     roles, patient restrictions, and the middleware that applies the
//     route table;
//   - audit: the hash-chained ATNA audit trail (PS3.15 A.5), its syslog
//     forwarding, and the mapping of each operation to its ATNA event.
//
// Packages of this room may import dicomweb/kind and dicomweb/dicom; never
// dicomweb/archive, index or storage (TestRooms in package dicomweb
// checks it).
package security
