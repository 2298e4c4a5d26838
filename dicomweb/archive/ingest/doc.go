// Package ingest turns uploaded Part-10 objects into durable, indexed
// instances: the STOW-RS pipeline without HTTP.
//
// For each part: Spool copies it to a temporary file under the spool
// directory (zeroing the 128-byte preamble, hashing with SHA-256, stopping
// at a size cap); Store parses it with part10 (bounded, never trusting
// declared lengths), validates the UIDs, builds the index entry and the
// DICOM JSON, writes the object to the store under a content-addressed key
// and commits the index entry (group commit). An instance is acknowledged
// only after both are durable.
//
// The STOW handler runs the same steps apart, so that they overlap across
// the parts of a request: SpoolAsync returns once a part is read (a second
// goroutine creates, writes and hashes its spool file), Check parses and
// validates (CPU-bound, under the handler's ingest limit), Write stores the
// object and waits for its durability (under a separate, larger limit: it
// mostly waits), and CommitAll indexes the instances, in one index
// transaction, once the whole request was read. Store is Prepare (Check
// and Write) then Commit.
//
// Crash safety: before the object is written, the spool file is renamed to
// "<sha256>.<n>.pending". It is removed once the index commit is done. At
// start-up Recover deletes every spool file and, for each pending one whose
// object the index does not reference, the object too: an interrupted
// upload leaves nothing behind. Object keys are derived from the SHA-256 of
// the stored bytes only ("dicom/ab/cd/<sha256>.dcm"), never from UIDs.
package ingest
