//go:build !cgo

package jpeg2000

import (
	"fmt"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
)

// Available reports whether this build can decode JPEG 2000 (it needs cgo).
const Available = false

// Decode returns codec.ErrUnsupported: JPEG 2000 decoding needs cgo.
func Decode(src []byte, p codec.Params, dst []byte) ([]byte, error) {
	return nil, fmt.Errorf("jpeg2000: decode: built without cgo: %w", codec.ErrUnsupported)
}
