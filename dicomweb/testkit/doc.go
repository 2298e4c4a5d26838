// Package testkit is the room of what tests share, never linked into the
// binary: dicomwebtest (an in-process archive on a temporary directory),
// exectest (running external tools such as DCMTK), testcorpus (finding
// the shared DICOM test files), certtest (self-signed certificates) and
// pgtest (throw-away PostgreSQL servers, standbys and failovers).
package testkit
