// Package dicomweb serves the DICOMweb services of minipacs (PS3.18):
// STOW-RS (store), QIDO-RS (search) and WADO-RS (retrieve), plus DELETE.
//
// Handlers are thin: they parse the request, call the ingest pipeline, the
// index or the object store through small interfaces, and encode the answer.
// Every error a handler returns is mapped to an HTTP status in one place
// (errors.go); a failure after a 200 started streaming aborts the
// connection instead of writing an error into the body.
//
// Sub-packages hold the parts that know DICOM: part10 (the defensive Part-10
// parser and frame layout), dicomjson (the DICOM JSON encoder), charset
// (SpecificCharacterSet decoding), qido (query parsing and answers) and
// ingest (the STOW pipeline from spooled part to durable, indexed instance).
package dicomweb
