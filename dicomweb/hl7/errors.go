package hl7

import (
	"errors"
	"fmt"

	"github.com/minipacs/minipacs/dicomweb/kind"
)

// ErrorCode is an HL7 error condition code (table 0357).
type ErrorCode int

// The codes of table 0357.
const (
	CodeSegmentSequence    ErrorCode = 100 // segment sequence error
	CodeRequiredField      ErrorCode = 101 // required field missing
	CodeDataType           ErrorCode = 102 // data type error
	CodeTableValue         ErrorCode = 103 // table value not found
	CodeUnsupportedType    ErrorCode = 200 // unsupported message type
	CodeUnsupportedEvent   ErrorCode = 201 // unsupported event code
	CodeUnsupportedProcID  ErrorCode = 202 // unsupported processing ID
	CodeUnsupportedVersion ErrorCode = 203 // unsupported version ID
	CodeUnknownKey         ErrorCode = 204 // unknown key identifier
	CodeDuplicateKey       ErrorCode = 205 // duplicate key identifier
	CodeRecordLocked       ErrorCode = 206 // application record locked
	CodeInternal           ErrorCode = 207 // application internal error
)

var codeText = map[ErrorCode]string{
	CodeSegmentSequence:    "Segment sequence error",
	CodeRequiredField:      "Required field missing",
	CodeDataType:           "Data type error",
	CodeTableValue:         "Table value not found",
	CodeUnsupportedType:    "Unsupported message type",
	CodeUnsupportedEvent:   "Unsupported event code",
	CodeUnsupportedProcID:  "Unsupported processing id",
	CodeUnsupportedVersion: "Unsupported version id",
	CodeUnknownKey:         "Unknown key identifier",
	CodeDuplicateKey:       "Duplicate key identifier",
	CodeRecordLocked:       "Application record locked",
	CodeInternal:           "Application internal error",
}

// String returns the code's text in table 0357.
func (c ErrorCode) String() string {
	if t, ok := codeText[c]; ok {
		return t
	}
	return fmt.Sprintf("error %d", int(c))
}

// AckCode is MSA-1 of an original mode acknowledgment.
type AckCode string

// The acknowledgment codes.
const (
	AA AckCode = "AA" // accepted
	AE AckCode = "AE" // error: the message was not applied; re-sending it as is will fail again
	AR AckCode = "AR" // rejected: not applied (unsupported, not allowed, or a transient failure)
)

// Error is an error with an HL7 error code, and where it was found when
// known. Parse returns them; an Applier may return one (NewError) to
// choose the code, else the kind of its error chooses (Outcome).
type Error struct {
	Code    ErrorCode
	Segment string // segment ID of ERR-2, "" when unknown
	Field   int    // field position of ERR-2, 0 when unknown
	Msg     string
	Err     error // the cause, optional
}

// NewError returns an *Error with code and a formatted message; %w in
// format wraps the cause.
func NewError(code ErrorCode, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Msg: err.Error(), Err: errors.Unwrap(err)}
}

func errorf(code ErrorCode, seg string, field int, format string, args ...any) *Error {
	return &Error{Code: code, Segment: seg, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// tooLarge marks a limit exceeded: kind Full, so AR.
func tooLarge(e *Error) *Error {
	e.Err = kind.Full
	return e
}

func (e *Error) Error() string { return fmt.Sprintf("hl7: %s (%d)", e.Msg, int(e.Code)) }

// Unwrap returns the cause and the kind of the code: 100-103 Invalid,
// 200-203 Unsupported, 204 NotFound, 205 Conflict, 206 Unavailable.
func (e *Error) Unwrap() []error {
	var out []error
	if e.Err != nil {
		out = append(out, e.Err)
	}
	switch {
	case e.Code >= 100 && e.Code <= 103:
		out = append(out, kind.Invalid)
	case e.Code >= 200 && e.Code <= 203:
		out = append(out, kind.Unsupported)
	case e.Code == CodeUnknownKey:
		out = append(out, kind.NotFound)
	case e.Code == CodeDuplicateKey:
		out = append(out, kind.Conflict)
	case e.Code == CodeRecordLocked:
		out = append(out, kind.Unavailable)
	}
	return out
}

// outcomes is the one table from errors to acknowledgments: the kind of
// an Applier's error (or of the server's own checks) gives MSA-1 and the
// ERR-3 code. An *Error in the chain gives its own code, with the ack
// code of its kind.
var outcomes = []struct {
	kind *kind.Kind
	ack  AckCode
	code ErrorCode
}{
	{kind.Invalid, AE, CodeInternal},            // a rule broken: fix the message
	{kind.NotFound, AE, CodeUnknownKey},         // e.g. A40 of an unknown patient
	{kind.Conflict, AE, CodeDuplicateKey},       // contradicts what is stored
	{kind.Unsupported, AR, CodeUnsupportedType}, // type, event or version we do not apply
	{kind.Unavailable, AR, CodeInternal},        // transient: the sender should retry
	{kind.Full, AR, CodeInternal},               // out of space: transient for the sender
	{kind.Forbidden, AR, CodeInternal},          // sender not allowed
}

// Outcome maps an error to the acknowledgment code and the HL7 error code
// (0 for nil: AA). An error of no kind is an internal failure: AR 207, so
// that the sender keeps the message and retries.
func Outcome(err error) (AckCode, ErrorCode) {
	if err == nil {
		return AA, 0
	}
	k := kind.Of(err)
	var he *Error
	if errors.As(err, &he) {
		if k == nil {
			return AE, he.Code // 207 and other kindless codes
		}
		for _, o := range outcomes {
			if o.kind == k {
				return o.ack, he.Code
			}
		}
	}
	for _, o := range outcomes {
		if o.kind == k {
			return o.ack, o.code
		}
	}
	return AR, CodeInternal
}
