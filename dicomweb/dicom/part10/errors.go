package part10

import (
	"errors"

	"github.com/minipacs/minipacs/dicomweb/kind"
)

// Sentinel errors returned (wrapped, with detail) by Parse. Callers test for
// them with errors.Is.
var (
	// ErrNoPart10Header: the object lacks the 128-byte preamble and "DICM"
	// prefix. Headerless data sets are not supported.
	ErrNoPart10Header = errors.New("not a DICOM Part-10 file (no DICM prefix)")
	// ErrMalformed: the object is truncated, a length points past the end,
	// the item structure is broken, nesting is too deep, there are too many
	// elements, or the pixel data is smaller than its attributes declare.
	ErrMalformed = kind.New(kind.Invalid, "malformed DICOM data")
	// ErrUnsupportedTransferSyntax: the transfer syntax UID is unknown.
	ErrUnsupportedTransferSyntax = kind.New(kind.Unsupported, "unsupported transfer syntax")
)
