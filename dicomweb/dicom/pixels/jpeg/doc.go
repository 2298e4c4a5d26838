// Package jpeg decodes the DICOM JPEG transfer syntaxes in pure Go:
//
//   - 1.2.840.10008.1.2.4.50 JPEG Baseline (process 1): 8-bit Huffman
//     sequential DCT, any integral sampling factors, 1 to 4 components;
//   - 1.2.840.10008.1.2.4.51 JPEG Extended (processes 2 and 4): 8- and
//     12-bit Huffman sequential DCT;
//   - 1.2.840.10008.1.2.4.57 JPEG Lossless (process 14, predictors 1-7,
//     point transform) and 1.2.840.10008.1.2.4.70 (selection value 1):
//     precision 2 to 16 bits, interleaved and non-interleaved scans.
//
// Progressive (SOF2), arithmetic coding (SOF9 and up), hierarchical
// (SOF5-7, DHP, EXP) and JPEG-LS (SOF55) streams give codec.ErrUnsupported.
//
// Decode follows the conventions of package codec: it returns the frame's
// samples interleaved, in Params.BitsAllocated/8 bytes each, little endian.
// There is no colour conversion: a YCbCr stream comes out as Y Cb Cr (an
// Adobe APP14 marker, whose transform flag tells RGB from YCbCr, is read and
// reported by ReadInfo but never changes the samples). Subsampled
// components are upsampled as libjpeg 6b (and so DCMTK) does: the "fancy"
// triangle filter for 2:1 horizontal and 2:1×2:1 factors, replication for
// the other integral factors. The inverse DCT is libjpeg's accurate integer
// one (jidctint.c, "ISLOW"), so DCT output matches dcmdjpeg exactly on the
// test files; the package is based in part on the work of the Independent
// JPEG Group.
//
// Sign handling (Params.Signed): the decoded sample is a bit pattern of the
// stream's precision P. It is sign extended from BitsStored, as codec says.
// When P exceeds BitsStored (some encoders write 16-bit lossless streams
// for BitsStored 12, or full two's complement words), the frame is first
// inspected: if any sample has bits above BitsStored that are neither all
// zero nor a copy of its bit BitsStored-1, the encoder evidently coded
// full-width values and the whole frame is sign extended from P instead,
// so no information is lost. Unsigned samples are written as decoded, even
// when they use more than BitsStored bits. A stream precision larger than
// BitsAllocated gives codec.ErrMismatch.
//
// Hostile input: the stream's dimensions and component count must equal
// Params (codec.ErrMismatch otherwise), and a stream too short to code a
// frame of that size is refused before any allocation (codec.ErrCorrupt),
// so memory is bounded by the frame size: the output, plus for DCT streams
// one 16-bit plane per component (padded to whole MCUs), for lossless ones
// two rows per component, and small tables. A stream whose entropy-coded
// data ends early gives codec.ErrCorrupt; a missing EOI after complete scans
// is tolerated, as are wrong Ss/Se values in sequential DCT scans (as
// libjpeg does). Restart markers are required where the restart interval
// says; their numbers are not checked.
package jpeg
