// Package testkit is the room of what tests share, never linked into the
// binary: dicomwebtest (an in-process archive on a temporary directory),
// exectest (running external tools such as DCMTK) and testcorpus (finding
// the shared DICOM test files).
package testkit
