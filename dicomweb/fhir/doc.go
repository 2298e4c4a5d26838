// Package fhir is the FHIR R4 (4.0.1) facade of the archive at /fhir: an
// HTTP front door beside package dicomweb that answers, read-only and in
// JSON, from the archive's index. It may import dicomweb/archive,
// dicomweb/dicom, dicomweb/kind, dicomweb/security, index, storage, echo
// and net/http; never web, cmd, dicomweb/dimse or dicomweb/hl7, and only
// cmd imports it (dicomweb/rooms_test.go).
//
// # Resources
//
//   - GET /fhir/metadata: the CapabilityStatement (Public route): the
//     resources below with their search parameters; DiagnosticReport and
//     ServiceRequest only when Config.Records is set (NewRecords: the HL7
//     orders and reports of the archive).
//   - Patient: read and search. A patient is a (Patient ID, Issuer of
//     Patient ID) pair of the study records; its demographics are those of
//     the first of its studies that the index gives. The logical id is
//     PatientLogicalID: the bytes Issuer, NUL, ID in base64 with the FHIR
//     id alphabet (A-Z a-z 0-9 '-' '.', no padding) when at most 48 bytes,
//     else "h" and 40 hex digits of their SHA-256 (found by a scan).
//     name from the PN Alphabetic group (family^given^middle^prefix^suffix;
//     middle names are given names), gender M/F/O → male/female/other,
//     else unknown; birthDate from the DA.
//   - ImagingStudy: read and search. The id is the Study Instance UID
//     itself (digits and dots are valid in a FHIR id). It carries the UID
//     (urn:dicom:uid, urn:oid:<uid>), the accession number (type ACSN),
//     status available, subject, started (StudyDate and StudyTime with the
//     study's TimezoneOffsetFromUTC, else Config.Location's offset, else
//     the date alone: FHIR wants a zone with a time), counts, modalities,
//     description, the Endpoint, and its series and instances from series-
//     and instance-level index searches (at most Config.MaxInstances
//     instances listed).
//   - Endpoint/dicomweb: the DICOMweb service (dicom-wado-rs,
//     application/dicom) at Config.DICOMwebURL.
//   - ServiceRequest (NewRecords): one per worklist order step. The id is
//     ServiceRequestID: the worklist key (placer order number, NUL,
//     scheduled procedure step ID) in the form of the Patient id (base64
//     with the FHIR id alphabet, or "h" and a SHA-256 prefix over 48
//     bytes, found by a scan). status SCHEDULED and STARTED → active,
//     COMPLETED → completed, DISCONTINUED → revoked; intent order; code
//     text the requested procedure (else step) description; subject the
//     Patient of Patient ID and issuer; identifiers placer (PLAC), filler
//     (FILL), accession (ACSN) of v2-0203, without system;
//     occurrenceDateTime the scheduled start (with the offset of the zone
//     given to NewRecords, else the date alone); requester display the
//     referring physician; meta.lastUpdated.
//   - DiagnosticReport (NewRecords): one per report. The id is
//     DiagnosticReportID: the report ID (filler or placer order number) in
//     the same form; a hashed id (report ID over 48 bytes) cannot be read
//     (report.Service cannot list reports), only found by a search.
//     status as stored (preliminary, final, corrected, cancelled); category
//     RAD (v2-0074); code LOINC 18748-4 "Diagnostic imaging study" with the
//     title (else OBR-4 code) as text; subject; effectiveDateTime the
//     observation time; issued; resultsInterpreter display the author;
//     identifiers the report ID and the accession number (ACSN);
//     imagingStudy ImagingStudy/{Study Instance UID} when known (a
//     reference that resolves when the study is in the archive);
//     presentedForm the text as text/plain; charset=utf-8 in base64.
//
// # Searches
//
// Answers are searchset Bundles streamed entry by entry, with fullUrl,
// a self link and a next link (_offset paging; _count 50 by default, at
// most 500; _count=0 gives only the total). total is given when the walk
// reached the end (always on the last page). Each parameter is checked
// by a predicate on the study record, which alone decides; where the
// index can match the same or more, it narrows the walk with a filter.
// Repeated parameters are ANDed, comma-separated values ORed.
//
// Patient: _id, identifier ([system|]value: the Patient ID; system the
// issuer when a URI, urn:oid:<issuer> when an OID, "|value" for none),
// name, family, given (starts-with, case and accent insensitive),
// birthdate, gender. ImagingStudy: _id, identifier (urn:dicom:uid|urn:oid:
// <uid>, urn:oid:<uid>, or the accession number [|]value; another system
// matches nothing), patient (Patient/{id}), started, modality ([DCM|]code).
// Date parameters take eq ne gt lt ge le and date precision only.
//
// ServiceRequest and DiagnosticReport: _id, identifier (the value of any
// identifier; a token with a system matches nothing), patient
// (Patient/{id}), status (the FHIR codes; another code or system is
// 400). ServiceRequest searches walk every order. A DiagnosticReport
// search needs _id, identifier or patient (else 400 too-costly: the
// reports are found through report.Get and report.Find, by report ID,
// accession number and Patient ID; a hashed Patient id finds none).
//
// Errors are OperationOutcomes: a malformed value, a modifier or a
// dateTime value is 400 (strict); an unknown parameter is ignored and
// named in a warning OperationOutcome entry (search mode outcome); an
// unknown id or type 404; writes 405; a format other than JSON 406
// (_format json, application/fhir+json or application/json, or Accept).
//
// # Access
//
// Reads and searches need the Reader role, like QIDO-RS; the
// PatientFilter hides other patients (left out of searches, 404 on read);
// each request for Patient, ImagingStudy, ServiceRequest or
// DiagnosticReport gives the Auditor one AccessEvent with the studies
// (patients, accession numbers) of the resources answered (cmd maps reads
// to 110103 and searches to 110112 of the audit trail). Records from
// NewRecords apply the restriction to the record's own Patient ID and
// issuer (a report without one is hidden from restricted readers).
package fhir
