package retrieve

import (
	"context"
	"errors"
	"fmt"

	"github.com/minipacs/minipacs/dicomweb/kind"
)

// The service's refusals. The text of the NotFound ones is meant for the
// client (see Reason).
var (
	// ErrNoPixelData: the instance has no pixel data to decode or render.
	ErrNoPixelData = kind.New(kind.NotFound, "the instance has no pixel data")
	// ErrNoFrames: the instance has no pixel data frames to send.
	ErrNoFrames = kind.New(kind.NotFound, "the instance has no pixel data frames")
	// ErrNoSuchFrame: a frame number beyond the instance's frames.
	ErrNoSuchFrame = kind.New(kind.NotFound, "frame number beyond the number of frames")
	// ErrNoImage: no instance of the study or series has pixel data.
	ErrNoImage = kind.New(kind.NotFound, "no instance with pixel data")
	// ErrNoBulkData: the instance has no bulk value at that path.
	ErrNoBulkData = kind.New(kind.NotFound, "not found")
	// ErrCannotConvert: the instance cannot be sent in the transfer
	// syntax asked for (see CanSend).
	ErrCannotConvert = kind.New(kind.Unsupported, "the instance cannot be converted to the requested transfer syntax")
)

// ErrStoredObject is a stored object that cannot be read back as DICOM
// (parsed again, or its layout in the index decoded): the archive's fault,
// whatever the parser's error kind says. It has no kind.
var ErrStoredObject = errors.New("retrieve: stored object cannot be read back")

// reasons are the refusals whose text Reason gives.
var reasons = []error{ErrNoPixelData, ErrNoFrames, ErrNoSuchFrame, ErrNoImage, ErrNoBulkData}

// Reason returns the text of the service's NotFound refusal in err's chain
// (ErrNoPixelData, ErrNoFrames, ErrNoSuchFrame, ErrNoImage, ErrNoBulkData),
// which holds no request input or patient data; "" when there is none.
func Reason(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r) {
			return r.Error()
		}
	}
	return ""
}

// storedError reports the failure err of reading back a stored object. A
// failure of the store itself (ioErr, the first error of a read) keeps its
// kind; so does the end of ctx. Anything else (the parser found the bytes
// malformed) becomes ErrStoredObject, the cause kept as text only.
func storedError(ctx context.Context, op string, ioErr, err error) error {
	switch {
	case ioErr != nil:
		return fmt.Errorf("%s: %w", op, ioErr)
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", op, ctx.Err())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %v", op, ErrStoredObject, err)
}
