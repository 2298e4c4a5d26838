package pixels

import (
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"github.com/minipacs/minipacs/dicomweb/kind"
)

// ErrMediaType: Encode cannot produce the media type asked for.
var ErrMediaType = kind.New(kind.Unsupported, "pixels: unsupported rendered media type")

// DefaultQuality is the JPEG quality used when none is asked for.
const DefaultQuality = 90

// Rendered media types Encode produces.
const (
	MediaJPEG = "image/jpeg"
	MediaPNG  = "image/png"
	MediaGIF  = "image/gif"
)

// Encode writes m as mediaType: "image/jpeg" (quality 1-100, 0 for
// DefaultQuality), "image/png" or "image/gif" (grey pictures exactly with a
// grey palette, colour ones dithered to a web palette).
func Encode(w io.Writer, m image.Image, mediaType string, quality int) error {
	switch mediaType {
	case MediaJPEG:
		if quality == 0 {
			quality = DefaultQuality
		}
		if quality < 1 || quality > 100 {
			return fmt.Errorf("pixels: encode: JPEG quality %d not in 1..100: %w", quality, ErrInvalid)
		}
		if err := jpeg.Encode(w, m, &jpeg.Options{Quality: quality}); err != nil {
			return fmt.Errorf("pixels: encode JPEG: %w", err)
		}
		return nil
	case MediaPNG:
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		if err := enc.Encode(w, m); err != nil {
			return fmt.Errorf("pixels: encode PNG: %w", err)
		}
		return nil
	case MediaGIF:
		if g, ok := m.(*image.Gray); ok {
			pal := make(color.Palette, 256)
			for i := range pal {
				pal[i] = color.Gray{Y: uint8(i)}
			}
			p := &image.Paletted{Pix: g.Pix, Stride: g.Stride, Rect: g.Rect, Palette: pal}
			m = p
		}
		if err := gif.Encode(w, m, nil); err != nil {
			return fmt.Errorf("pixels: encode GIF: %w", err)
		}
		return nil
	}
	return fmt.Errorf("pixels: encode %.64q: %w", mediaType, ErrMediaType)
}
