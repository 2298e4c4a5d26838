// Package retrieve is the protocol-neutral retrieve service of the archive:
// it gives stored instances back as stored or transcoded, their frames (as
// stored or decoded), their bulk data, and rendered pictures (JPEG or PNG)
// of their frames. Every front door calls it: DICOMweb's WADO-RS handlers
// (package dicomweb) parse the request, negotiate the media type and write
// the multipart answer; DIMSE C-GET and C-MOVE send the same instances over
// an association.
//
// # Bodies
//
// What the service sends is a Body: its Size (exact, or -1 when known only
// once written), WriteTo and Close. The I/O that can fail for a reason a
// front door should report (the object is missing from the store, its
// syntax cannot be converted, its pixel data cannot be decoded) happens
// before the Body is returned, so that a front door can still answer with
// a status; a failure in WriteTo happens after the answer began and must
// abort it. WriteTo copies stored bytes with io.Copy into the writer, over
// the *os.File the disk store gives when there is one: a writer that
// implements io.ReaderFrom (net/http's ResponseWriter) then sends them by
// sendfile, without copying them through user space.
//
// # Errors
//
// Refusals are sentinels with an error kind (dicomweb/kind): ErrNoPixelData,
// ErrNoFrames, ErrNoSuchFrame, ErrNoImage and ErrNoBulkData are NotFound
// (their text is safe to show to a client: see Reason), ErrCannotConvert is
// Unsupported. Errors of the index and the store keep their own kinds. A
// stored object that cannot be parsed again is a fault of the archive, not
// of the request: it is reported as ErrStoredObject, which has no kind and
// does not unwrap to the parser's (Invalid) one; a cancelled or expired ctx
// is still reported as context.Canceled or context.DeadlineExceeded.
//
// Renderings of one frame are kept in a size-bounded LRU cache keyed by the
// stored object's hash, the frame and the rendering options (RenderKey).
//
// Like every package of the archive room, retrieve may import
// dicomweb/dicom, dicomweb/kind, index and storage; never a front door.
package retrieve
