// Package scrub checks that the object store and the index agree, and
// repairs what can be repaired safely.
//
//   - Verify walks the index (all instances or a random sample), streams
//     every object through SHA-256 and compares hash and size with what
//     ingest recorded. It reports missing objects, mismatches (corrupt or
//     truncated objects), objects that could not be read (transient store
//     errors) and, optionally, orphans: objects under "dicom/" that no
//     index entry references. A missing object or a mismatch is confirmed
//     by looking the instance up again before it is reported, so an
//     instance deleted or replaced during the walk is not a false alarm.
//     Reading can be throttled (bytes per second) and runs with bounded
//     concurrency.
//   - Scrubber runs Verify periodically inside the server, throttled,
//     and keeps cumulative Counters that the server exposes on /metrics
//     (dicomweb/metrics).
//   - GC removes orphans older than a grace period, sparing objects named
//     by a pending upload in the ingest spool directory
//     ("<sha256>.<n>.pending", see package ingest), and removes stale spool
//     files. GC trusts the index completely, so it must run against the
//     live index (the server stopped: bbolt lets one process open it) and
//     never against a restored older backup, whose missing instances would
//     look like orphans.
//
// Nothing here deletes or changes an object that the index references,
// and nothing logs patient data: problems name object keys and UIDs only.
package scrub
