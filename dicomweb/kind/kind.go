// Package kind names the few kinds of failure that every front door of the
// archive tells apart: not found, invalid, conflict, unsupported,
// unavailable, full and forbidden.
//
// Each package keeps its own sentinel errors (index.ErrNotFound,
// storage.ErrFull, codec.ErrUnsupported...), made with New so that they
// are also of one kind:
//
//	var ErrNotFound = kind.New(kind.NotFound, "index: not found")
//
// A front door then maps kinds, not sentinels, to its own status codes in
// one short table (DICOMweb: dicomweb/errors.go; DIMSE status and HL7 ACK
// codes alike): errors.Is(err, kind.NotFound) holds for any error that
// wraps such a sentinel, and Of returns the kind of an error.
//
// The package imports nothing of minipacs: every room may use it, from the
// DICOM format (dicomweb/dicom) to the index and the object store.
package kind

import "errors"

// Kind is a kind of failure. The kinds are the package's variables; an
// error is of a kind when errors.Is(err, kind) holds.
type Kind struct{ name string }

func (k *Kind) Error() string { return k.name }

// The kinds.
var (
	// NotFound: what the request names does not exist (study, instance,
	// frame, object, key).
	NotFound = &Kind{"not found"}
	// Invalid: the request or the data sent is malformed or breaks a
	// rule; sending it again will fail again.
	Invalid = &Kind{"invalid"}
	// Conflict: it contradicts what is stored (same UID, other content).
	Conflict = &Kind{"conflict"}
	// Unsupported: well-formed, but this archive cannot do it (a transfer
	// syntax it cannot decode, a media type it cannot produce).
	Unsupported = &Kind{"unsupported"}
	// Unavailable: a dependency (object store, index, key server) does not
	// answer now; the same request may succeed later.
	Unavailable = &Kind{"unavailable"}
	// Full: out of space or over a size limit.
	Full = &Kind{"full"}
	// Forbidden: the caller may not do this.
	Forbidden = &Kind{"forbidden"}
)

// All lists every kind, in the order Of tries them.
var All = []*Kind{NotFound, Invalid, Conflict, Unsupported, Unavailable, Full, Forbidden}

// New returns a sentinel error with the text msg that is of kind k
// (errors.Is(err, k) holds).
func New(k *Kind, msg string) error { return &sentinel{k: k, msg: msg} }

type sentinel struct {
	k   *Kind
	msg string
}

func (e *sentinel) Error() string { return e.msg }
func (e *sentinel) Unwrap() error { return e.k }

// Of returns the kind of err, or nil when it has none.
func Of(err error) *Kind {
	if err == nil {
		return nil
	}
	for _, k := range All {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}
