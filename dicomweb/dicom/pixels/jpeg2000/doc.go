// Package jpeg2000 decodes JPEG 2000 frames (transfer syntaxes
// 1.2.840.10008.1.2.4.90 lossless and .91 lossy) with OpenJPEG.
//
// The decoder is a cgo binding to Debian's libopenjp2 (package
// libopenjp2-7-dev, found with pkg-config as "libopenjp2"). In a
// CGO_ENABLED=0 build Decode returns codec.ErrUnsupported and Available is
// false, so callers can answer 406 for decoded output.
//
// DICOM frames are usually raw codestreams (starting FF4F FF51); some
// writers wrap them in JP2 boxes, which Decode detects by the JP2 signature
// box. The stream is fed to OpenJPEG from memory within one C call, so
// OpenJPEG never keeps a pointer into Go memory. The codestream header is
// checked against Params before anything is decoded: image size, component
// count, component subsampling (none accepted) and precision (at most
// BitsAllocated); a mismatch is codec.ErrMismatch. OpenJPEG's messages are
// never printed: the first error message is returned in the error.
//
// Samples are converted from OpenJPEG's int32 planes to the output
// convention of package codec:
//   - a component whose signedness agrees with Params.Signed is clamped to
//     the range of its precision (lossy streams overshoot);
//   - an unsigned component in signed data (PixelRepresentation 1 with an
//     unsigned codestream, as in pydicom's J2K_pixelrep_mismatch.dcm) is
//     taken as the two's complement bit pattern of min(precision,
//     BitsStored) bits and sign extended, which is what the data set says;
//   - a signed component in unsigned data keeps its bit pattern;
//   - finally values are limited to BitsStored bits: clamped when the
//     precision is at most BitsStored, and when the codestream's precision
//     is larger than BitsStored (a data set that understates its bit depth)
//     the stream's precision wins, capped at BitsAllocated, so no pixel
//     value is lost.
package jpeg2000
