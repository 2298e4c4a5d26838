package pixels

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/minipacs/minipacs/dicomweb/kind"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

var (
	// ErrNotImage: the data set has no usable Image Pixel module.
	ErrNotImage = kind.New(kind.NotFound, "pixels: not an image")
	// ErrInvalid: the image description or the pixel data is inconsistent
	// (a frame shorter than its description, an absurd LUT, ...).
	ErrInvalid = kind.New(kind.Unsupported, "pixels: invalid pixel data")
	// ErrTooLarge: the image is larger than this package renders or decodes.
	ErrTooLarge = kind.New(kind.Unsupported, "pixels: image too large")
)

// Bounds on what the package allocates for one frame.
const (
	// MaxPixels bounds Rows×Columns of an image to render or decode.
	MaxPixels = 1 << 26
	// MaxFrameBytes bounds the size of one decoded frame.
	MaxFrameBytes = 1 << 30
	// maxLUTBytes bounds a LUT's data (65536 16-bit entries).
	maxLUTBytes = 65536 * 2
)

// Tags of the Image Pixel module and its friends.
const (
	tagSamplesPerPixel       part10.Tag = 0x00280002
	tagPhotometric           part10.Tag = 0x00280004
	tagPlanarConfiguration   part10.Tag = 0x00280006
	tagNumberOfFrames        part10.Tag = 0x00280008
	tagRows                  part10.Tag = 0x00280010
	tagColumns               part10.Tag = 0x00280011
	tagBitsAllocated         part10.Tag = 0x00280100
	tagBitsStored            part10.Tag = 0x00280101
	tagHighBit               part10.Tag = 0x00280102
	tagPixelRepresentation   part10.Tag = 0x00280103
	tagWindowCenter          part10.Tag = 0x00281050
	tagWindowWidth           part10.Tag = 0x00281051
	tagRescaleIntercept      part10.Tag = 0x00281052
	tagRescaleSlope          part10.Tag = 0x00281053
	tagVOILUTFunction        part10.Tag = 0x00281056
	tagRedDescriptor         part10.Tag = 0x00281101
	tagGreenDescriptor       part10.Tag = 0x00281102
	tagBlueDescriptor        part10.Tag = 0x00281103
	tagRedData               part10.Tag = 0x00281201
	tagGreenData             part10.Tag = 0x00281202
	tagBlueData              part10.Tag = 0x00281203
	tagSegRedData            part10.Tag = 0x00281221
	tagSegGreenData          part10.Tag = 0x00281222
	tagSegBlueData           part10.Tag = 0x00281223
	tagLossyImageCompression part10.Tag = 0x00282110
	tagModalityLUTSequence   part10.Tag = 0x00283000
	tagLUTDescriptor         part10.Tag = 0x00283002
	tagLUTData               part10.Tag = 0x00283006
	tagVOILUTSequence        part10.Tag = 0x00283010
	tagSharedFunctionalGroup part10.Tag = 0x52009229
	tagFrameVOILUTSequence   part10.Tag = 0x00289132
	tagPixelValueTransform   part10.Tag = 0x00289145
)

// Photometric interpretations.
const (
	Monochrome1 = "MONOCHROME1"
	Monochrome2 = "MONOCHROME2"
	PaletteRGB  = "PALETTE COLOR"
	RGB         = "RGB"
	YBRFull     = "YBR_FULL"
	YBRFull422  = "YBR_FULL_422"
	YBRPartial  = "YBR_PARTIAL_422"
	YBRRCT      = "YBR_RCT"
	YBRICT      = "YBR_ICT"
)

// Image describes the pixel data of one instance: the Image Pixel module,
// the transfer syntax it is stored in, and what rendering needs (Modality
// LUT, VOI, palette).
type Image struct {
	// TransferSyntaxUID is the syntax the frames are stored in.
	TransferSyntaxUID string

	Rows, Columns   int
	SamplesPerPixel int
	// BitsAllocated is 1, 8, 16 or 32; BitsStored ≤ BitsAllocated and
	// HighBit+1 ≥ BitsStored.
	BitsAllocated, BitsStored, HighBit int
	// Signed is PixelRepresentation = 1.
	Signed              bool
	Photometric         string
	PlanarConfiguration int
	// NumberOfFrames is at least 1.
	NumberOfFrames int

	// Modality LUT: RescaleSlope/Intercept (1 and 0 when absent), or the
	// first Modality LUT Sequence item, which takes precedence.
	RescaleSlope, RescaleIntercept float64
	ModalityLUT                    *LUT
	// Windows are the data set's WindowCenter/WindowWidth pairs, each with
	// the VOI LUT Function.
	Windows []Window
	// VOILUTs are the VOI LUT Sequence items.
	VOILUTs []*LUT
	// Palette is set for PALETTE COLOR.
	Palette *Palette
	// LossyImageCompression is (0028,2110) = "01".
	LossyImageCompression bool
}

// BulkLoader returns the value of a bulk element that Parse did not keep in
// memory (e.g. large LUT data), in little endian byte order. path names the
// element as part10.BulkValue.Path does ("00281201", "00283010/0/00283006").
// A value longer than max bytes is an error.
type BulkLoader func(ctx context.Context, path string, max int64) ([]byte, error)

// LayoutLoader is the BulkLoader that reads bulk values with ranged reads
// of the stored object described by lay.
func LayoutLoader(open part10.OpenFunc, lay *part10.Layout) BulkLoader {
	return func(ctx context.Context, path string, max int64) ([]byte, error) {
		for _, b := range lay.Bulk {
			if b.Path != path {
				continue
			}
			if n := part10.BulkLength(b); n > max {
				return nil, fmt.Errorf("pixels: bulk value %s of %d bytes exceeds %d: %w", path, n, max, ErrInvalid)
			}
			var buf bytes.Buffer
			if err := part10.WriteBulk(ctx, &limitWriter{w: &buf, n: max}, open, lay, b); err != nil {
				return nil, fmt.Errorf("pixels: read bulk value %s: %w", path, err)
			}
			return buf.Bytes(), nil
		}
		return nil, fmt.Errorf("pixels: bulk value %s not found: %w", path, ErrInvalid)
	}
}

type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		return 0, fmt.Errorf("pixels: bulk value longer than announced: %w", ErrInvalid)
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}

// Describe reads the image description from a parsed data set stored in
// transfer syntax tsUID. load supplies bulk LUT data; it may be nil when
// the caller knows every value is inline (Describe then fails on bulk LUTs).
func Describe(ctx context.Context, ds *part10.DataSet, tsUID string, load BulkLoader) (*Image, error) {
	img := &Image{TransferSyntaxUID: strings.TrimRight(tsUID, " \x00"), RescaleSlope: 1}
	rows, ok1 := ds.Int(tagRows)
	cols, ok2 := ds.Int(tagColumns)
	alloc, ok3 := ds.Int(tagBitsAllocated)
	if !ok1 || !ok2 || !ok3 || ds.Find(part10.TagPixelData) == nil {
		return nil, fmt.Errorf("pixels: describe: no Rows, Columns, BitsAllocated or PixelData: %w", ErrNotImage)
	}
	spp := intOr(ds, tagSamplesPerPixel, 1)
	stored := intOr(ds, tagBitsStored, alloc)
	high := intOr(ds, tagHighBit, stored-1)
	frames := intOr(ds, tagNumberOfFrames, 1)
	if frames == 0 {
		frames = 1
	}
	if frames < 0 || frames > 1<<24 {
		return nil, fmt.Errorf("pixels: describe: NumberOfFrames %d: %w", frames, ErrInvalid)
	}
	if rows <= 0 || cols <= 0 || rows > 0xFFFF || cols > 0xFFFF || spp > 0xFFFF || alloc > 0xFFFF || stored > 0xFFFF || high > 0xFFFF {
		return nil, fmt.Errorf("pixels: describe: %d×%d pixels of %d×%d bits: %w", rows, cols, spp, alloc, ErrInvalid)
	}
	img.Rows, img.Columns, img.SamplesPerPixel = int(rows), int(cols), int(spp)
	img.BitsAllocated, img.BitsStored, img.HighBit = int(alloc), int(stored), int(high)
	img.NumberOfFrames = int(frames)
	img.Signed = intOr(ds, tagPixelRepresentation, 0) == 1
	img.PlanarConfiguration = int(intOr(ds, tagPlanarConfiguration, 0))
	img.Photometric = strings.ToUpper(strings.TrimSpace(ds.String(tagPhotometric)))
	if img.Photometric == "" {
		img.Photometric = Monochrome2
		if spp == 3 {
			img.Photometric = RGB
		}
	}
	if err := img.validate(); err != nil {
		return nil, fmt.Errorf("pixels: describe: %w", err)
	}
	img.LossyImageCompression = strings.TrimSpace(ds.String(tagLossyImageCompression)) == "01"

	if img.Photometric == PaletteRGB {
		p, err := readPalette(ctx, ds, load)
		if err != nil {
			return nil, err
		}
		img.Palette = p
		return img, nil
	}
	if spp != 1 {
		return img, nil
	}
	if err := img.readGrayscale(ctx, ds, load); err != nil {
		return nil, err
	}
	return img, nil
}

// validate checks the invariants DecodeFrame and Render rely on, so that an
// Image built by hand cannot make them misbehave.
func (img *Image) validate() error {
	rows, cols, spp, alloc := img.Rows, img.Columns, img.SamplesPerPixel, img.BitsAllocated
	stored, high := img.BitsStored, img.HighBit
	switch {
	case rows <= 0 || cols <= 0 || rows > 0xFFFF || cols > 0xFFFF:
		return fmt.Errorf("%d×%d pixels: %w", rows, cols, ErrInvalid)
	case int64(rows)*int64(cols) > MaxPixels:
		return fmt.Errorf("%d×%d pixels: %w", rows, cols, ErrTooLarge)
	case spp != 1 && spp != 3:
		return fmt.Errorf("SamplesPerPixel %d: %w", spp, codecUnsupported)
	case alloc != 1 && alloc != 8 && alloc != 16 && alloc != 32:
		return fmt.Errorf("BitsAllocated %d: %w", alloc, codecUnsupported)
	case alloc == 1 && spp != 1:
		return fmt.Errorf("1-bit colour: %w", ErrInvalid)
	case stored < 1 || stored > alloc || high < stored-1 || high >= alloc:
		return fmt.Errorf("BitsStored %d HighBit %d for BitsAllocated %d: %w", stored, high, alloc, ErrInvalid)
	case img.PlanarConfiguration != 0 && img.PlanarConfiguration != 1:
		return fmt.Errorf("PlanarConfiguration %d: %w", img.PlanarConfiguration, ErrInvalid)
	case img.NumberOfFrames < 0:
		return fmt.Errorf("NumberOfFrames %d: %w", img.NumberOfFrames, ErrInvalid)
	case img.storedFrameBytes() > MaxFrameBytes:
		return fmt.Errorf("frame of %d bytes: %w", img.storedFrameBytes(), ErrTooLarge)
	}
	if img.Photometric == PaletteRGB && img.Palette != nil {
		for _, l := range []*LUT{img.Palette.Red, img.Palette.Green, img.Palette.Blue} {
			if l == nil || len(l.Data) == 0 || l.Bits < 1 || l.Bits > 16 {
				return fmt.Errorf("bad palette: %w", ErrInvalid)
			}
		}
	}
	for _, l := range append([]*LUT{img.ModalityLUT}, img.VOILUTs...) {
		if l != nil && (len(l.Data) == 0 || l.Bits < 1 || l.Bits > 16) {
			return fmt.Errorf("bad LUT: %w", ErrInvalid)
		}
	}
	return img.checkPhotometric()
}

func (img *Image) checkPhotometric() error {
	spp := img.SamplesPerPixel
	switch img.Photometric {
	case Monochrome1, Monochrome2:
		if spp == 1 {
			return nil
		}
	case PaletteRGB:
		if spp == 1 && img.BitsAllocated != 1 && img.BitsAllocated <= 16 {
			return nil
		}
	case RGB, YBRFull, YBRFull422, YBRRCT, YBRICT:
		if spp == 3 {
			return nil
		}
	case YBRPartial, "YBR_PARTIAL_420":
		return fmt.Errorf("photometric interpretation %s: %w", img.Photometric, codecUnsupported)
	default:
		return fmt.Errorf("photometric interpretation %.32q: %w", img.Photometric, codecUnsupported)
	}
	return fmt.Errorf("%s with %d samples of %d bits: %w", img.Photometric, spp, img.BitsAllocated, ErrInvalid)
}

// readGrayscale reads the Modality LUT and the VOI attributes, from the top
// level or else from the Shared Functional Groups (enhanced multi-frame
// objects).
func (img *Image) readGrayscale(ctx context.Context, ds *part10.DataSet, load BulkLoader) error {
	shared := firstItem(ds.Find(tagSharedFunctionalGroup))
	rescaleDS := ds
	if ds.Find(tagRescaleSlope) == nil && ds.Find(tagRescaleIntercept) == nil {
		if it := firstItem(shared.Find(tagPixelValueTransform)); it != nil {
			rescaleDS = it
		}
	}
	if v := floatsOf(rescaleDS.Find(tagRescaleSlope)); len(v) > 0 && v[0] != 0 && finite(v[0]) {
		img.RescaleSlope = v[0]
	}
	if v := floatsOf(rescaleDS.Find(tagRescaleIntercept)); len(v) > 0 && finite(v[0]) {
		img.RescaleIntercept = v[0]
	}
	if it := firstItem(ds.Find(tagModalityLUTSequence)); it != nil {
		lut, err := readLUT(ctx, it, part10.Tag(tagModalityLUTSequence).String()+"/0/", img.Signed, load)
		if err != nil {
			return fmt.Errorf("pixels: describe: modality LUT: %w", err)
		}
		img.ModalityLUT = lut
	}

	voiDS := ds
	if ds.Find(tagWindowCenter) == nil {
		if it := firstItem(shared.Find(tagFrameVOILUTSequence)); it != nil {
			voiDS = it
		}
	}
	centers := floatsOf(voiDS.Find(tagWindowCenter))
	widths := floatsOf(voiDS.Find(tagWindowWidth))
	fn := Linear
	if s := strings.ToUpper(strings.TrimSpace(voiDS.String(tagVOILUTFunction))); s == LinearExact || s == Sigmoid {
		fn = s
	}
	for i := 0; i < len(centers) && i < len(widths); i++ {
		w := Window{Center: centers[i], Width: widths[i], Function: fn}
		if w.valid() {
			img.Windows = append(img.Windows, w)
		}
	}
	// VOI LUT input is the Modality LUT output: signed when that can be
	// negative.
	voiSigned := img.Signed || img.RescaleIntercept < 0 || img.RescaleSlope < 0
	if seq := ds.Find(tagVOILUTSequence); seq != nil {
		for i, it := range seq.Items {
			if i >= 8 {
				break
			}
			prefix := fmt.Sprintf("%s/%d/", part10.Tag(tagVOILUTSequence), i)
			lut, err := readLUT(ctx, it, prefix, voiSigned, load)
			if err != nil {
				return fmt.Errorf("pixels: describe: VOI LUT %d: %w", i+1, err)
			}
			img.VOILUTs = append(img.VOILUTs, lut)
		}
	}
	return nil
}

// storedFrameBytes is the size of one frame in native encoding.
func (img *Image) storedFrameBytes() int64 {
	bits := int64(img.Rows) * int64(img.Columns) * int64(img.SamplesPerPixel) * int64(img.BitsAllocated)
	if img.Photometric == YBRFull422 && !img.encapsulated() {
		bits = bits / 3 * 2
	}
	return (bits + 7) / 8
}

func intOr(ds *part10.DataSet, t part10.Tag, def int64) int64 {
	if v, ok := ds.Int(t); ok {
		return v
	}
	return def
}

func floatsOf(e *part10.Element) []float64 {
	v, err := e.Floats()
	if err != nil {
		return nil
	}
	return v
}

func firstItem(e *part10.Element) *part10.DataSet {
	if e == nil || len(e.Items) == 0 {
		return nil
	}
	return e.Items[0]
}
