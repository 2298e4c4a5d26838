//go:build !cgo

package jpegls

import (
	"fmt"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
)

// Available reports whether this build can decode JPEG-LS (it needs cgo).
const Available = false

// Decode returns codec.ErrUnsupported: JPEG-LS decoding needs cgo.
func Decode(src []byte, p codec.Params, dst []byte) ([]byte, error) {
	return nil, fmt.Errorf("jpegls: decode: built without cgo: %w", codec.ErrUnsupported)
}
