// Package jpegls decodes JPEG-LS frames (transfer syntaxes
// 1.2.840.10008.1.2.4.80 lossless and .81 near-lossless) with CharLS.
//
// The decoder is a cgo binding to Debian's libcharls (package libcharls-dev,
// found with pkg-config as "charls"). In a CGO_ENABLED=0 build Decode
// returns codec.ErrUnsupported and Available is false, so callers can answer
// 406 for decoded output while everything else still works.
//
// Decode reads the stream's frame header first and refuses streams whose
// width, height, component count or bit depth do not fit Params
// (codec.ErrMismatch) before anything is decoded; CharLS then decodes
// straight into the Go output buffer when its layout already is the output
// convention (pixel or line interleaved with the output sample width, which
// CharLS returns pixel interleaved), or into a scratch buffer of at most one
// frame that is converted (uninterleaved components, or 8-bit streams in
// 16-bit samples). Signed data is sign extended from BitsStored; for
// unsigned data the bits above BitsStored are cleared.
package jpegls
