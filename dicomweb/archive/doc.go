// Package archive is the room of the protocol-neutral services that every
// front door calls. A front door (DICOMweb over HTTP in package dicomweb;
// DIMSE, HL7 and FHIR beside it) parses its protocol, calls one of these
// services and maps the outcome to its own status codes by error kind
// (dicomweb/kind); it never runs an archive rule itself.
//
//   - ingest: batches of uploaded Part-10 objects made durable and indexed
//     (Begin, Add, Commit or Abort), with the server-wide limits on parts
//     parsed and objects written at once; deletion of objects; crash
//     recovery; reindexing;
//   - query: levels, matching rules, return fields and the default
//     attribute tables, turned into index queries;
//   - retrieve: stored instances as stored or transcoded, their frames
//     (as stored or decoded), bulk data and rendered pictures, as bodies
//     that each front door writes in its own framing;
//   - scrub: verify, gc and the background re-hashing of every object.
//
// Packages of this room may import dicomweb/dicom, dicomweb/kind, index and
// storage; never a front door (dicomweb itself, or echo and net/http
// servers), nor dicomweb/security (TestRooms in package dicomweb checks
// it).
package archive
