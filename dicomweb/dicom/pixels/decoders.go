package pixels

import (
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/jpeg"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/jpeg2000"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/jpegls"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/rle"
)

// decoderFor returns the decoder of an encapsulated transfer syntax, and
// false when this build has none (video, JPIP, cgo codecs without cgo).
func decoderFor(tsUID string) (codec.Decoder, bool) {
	switch tsUID {
	case "1.2.840.10008.1.2.4.50", // JPEG baseline (process 1)
		"1.2.840.10008.1.2.4.51", // JPEG extended (processes 2 and 4)
		"1.2.840.10008.1.2.4.57", // JPEG lossless (process 14)
		"1.2.840.10008.1.2.4.70": // JPEG lossless, first-order prediction (SV1)
		return jpeg.Decode, true
	case "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81": // JPEG-LS
		return jpegls.Decode, jpegls.Available
	case "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", // JPEG 2000
		"1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203": // HTJ2K (openjp2 ≥ 2.5)
		return jpeg2000.Decode, jpeg2000.Available
	case "1.2.840.10008.1.2.5": // RLE Lossless
		return rle.Decode, true
	}
	return nil, false
}
