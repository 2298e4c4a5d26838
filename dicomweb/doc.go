// Package dicomweb is the DICOMweb front door of minipacs (PS3.18): STOW-RS
// (store), QIDO-RS (search) and WADO-RS (retrieve), plus DELETE, over HTTP.
//
// It holds HTTP only: the routes (each with the role it needs, in one
// table that auth applies), the handlers, Accept negotiation, multipart
// framing, and the mapping of errors to HTTP statuses (errors.go: by the
// error's kind, see dicomweb/kind). Handlers are thin: they parse the
// request, call an archive service through a small interface, and encode
// the answer; a failure after a 200 started streaming aborts the
// connection instead of writing an error into the body.
//
// The folders below are the rooms of the archive; each has a doc.go that
// says what lives there and what it may import (TestRooms checks it):
//
//   - kind: the error kinds every front door maps to its own codes;
//   - dicom: the DICOM format, no network (part10, charset, dicomjson,
//     pixels and codecs);
//   - archive: the protocol-neutral services every front door calls
//     (ingest, query, retrieve, scrub);
//   - security: authentication, roles and the audit trail;
//   - metrics: the Prometheus collectors;
//   - stowclient: the STOW-RS client behind `minipacs import`;
//   - testkit: what tests share.
//
// Other front doors are siblings of these rooms, each a thin adapter over
// the same archive services that only cmd imports: dimse (the DICOM upper
// layer and DIMSE: C-ECHO, C-STORE) today, hl7 and fhir to come.
package dicomweb
