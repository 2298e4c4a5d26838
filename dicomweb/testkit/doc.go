// Package testkit is the room of what tests share, never linked into the
// binary: dicomwebtest (an in-process archive on a temporary directory),
// exectest (running external tools such as DCMTK), testcorpus (finding
// the shared DICOM test files) and certtest (self-signed certificates).
package testkit
