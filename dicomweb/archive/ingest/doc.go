// Package ingest turns uploaded Part-10 objects into durable, indexed
// instances: the upload service of the archive, without any protocol.
// Every front door that receives objects (STOW-RS, C-STORE) uses the same
// Ingester, so the same duplicate policy, durability and limits apply.
//
// A front door uploads through a Batch: Begin, Add for each part as it is
// read (Refuse for a part it refused itself), then Commit once the upload
// was read to its end, or Abort when it could not be. Add returns as soon
// as a part is read: a second goroutine creates, writes and hashes its
// spool file (spoolAsync, zeroing the 128-byte preamble, stopping at
// Limits.MaxPartBytes), check parses it with part10 (bounded, never
// trusting declared lengths), validates the UIDs and builds the index
// entry and the DICOM JSON (CPU-bound, under the server-wide
// MaxConcurrentChecks), and write stores the object under a
// content-addressed key and waits for its durability (under a separate,
// larger MaxConcurrentWrites: it mostly waits). Commit indexes the batch's
// instances in one index transaction (commitAll). An instance is
// acknowledged only after its object and its index entry are durable.
//
// The batch is the package's only way in: the steps (spool, check,
// write, commit, abort) are unexported, so every front door gets the same
// limits and durability. storePart runs them for one spooled
// part (tests).
//
// Re-sends: a part whose SOP Instance UID is stored already is the same
// instance (Result.Existed, nothing written) when its bytes are the
// same, or when its data set is the same as the stored one's in a normal
// form that ignores the file meta group, group lengths, string padding,
// sequence and item lengths and the native transfer syntax (sameDataSet);
// anything else is other content (0x0111, or a replacement under the
// replace policy).
//
// Crash safety: before the object is written, the spool file is renamed to
// "<sha256>.<n>.pending". It is removed once the index commit is done. At
// start-up Recover deletes every spool file and, for each pending one whose
// object the index does not reference, the object too: an interrupted
// upload leaves nothing behind. Object keys are derived from the SHA-256 of
// the stored bytes only ("dicom/ab/cd/<sha256>.dcm"), never from UIDs.
package ingest
