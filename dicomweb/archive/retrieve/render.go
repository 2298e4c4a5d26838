package retrieve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"io"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels"
	"github.com/minipacs/minipacs/index"
)

// RenderOptions say how a frame is rendered.
type RenderOptions struct {
	// Media is "image/jpeg" or "image/png" (pixels.Encode).
	Media string
	// Quality is the JPEG quality, 1 to 100.
	Quality int
	// Window, Width and Height: the VOI window and the viewport.
	pixels.RenderOptions
	// Thumbnail renders a thumbnail (at most 128×128 unless a viewport
	// says otherwise, never enlarged) instead of the full picture.
	Thumbnail bool
}

// Key is the canonical form of the options other than Thumbnail, for
// caches and ETags.
func (o RenderOptions) Key() string {
	return fmt.Sprintf("%s|q%d|w%v|v%dx%d", o.Media, o.Quality, windowKey(o.Window), o.Width, o.Height)
}

func windowKey(w *pixels.Window) string {
	if w == nil {
		return ""
	}
	return fmt.Sprintf("%+v", *w)
}

// RenderKey names the rendering of frames nums of ref with opt: the
// stored object's hash, the frames and the options, hashed (32 hex
// digits). It is the key of the render cache and can serve as an ETag.
func RenderKey(ref *index.Ref, nums []int, opt RenderOptions) string {
	return hashKey(hex.EncodeToString(ref.SHA256[:]), fmt.Sprint(opt.Thumbnail, nums), opt.Key())
}

func hashKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		io.WriteString(h, p)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Cached returns the picture cached under key (see RenderKey and Cache).
func (s *Service) Cached(key string) ([]byte, bool) { return s.renders.get(key) }

// Cache keeps picture under key (see RenderKey), within the cache's
// bound. The caller must not modify picture afterwards.
func (s *Service) Cache(key string, picture []byte) { s.renders.put(key, picture) }

// RenderTarget picks the instance that a rendered picture (or a
// thumbnail) of a study, series or instance shows: the instance itself;
// for a rendered series or study the first instance with pixel data; for
// a series thumbnail its middle image, for a study thumbnail the middle
// image of its first series with images. None is ErrNoImage.
func (s *Service) RenderTarget(ctx context.Context, study, series, sop string, thumb bool) (*index.Ref, error) {
	if sop != "" {
		return s.idx.Instance(ctx, study, series, sop)
	}
	refs, err := s.idx.Refs(ctx, study, series)
	if err != nil {
		return nil, err
	}
	var images []index.Ref
	for _, r := range refs {
		var lay part10.Layout
		if lay.UnmarshalBinary(r.Layout) == nil && len(lay.Frames) > 0 {
			images = append(images, r)
		}
	}
	if len(images) == 0 {
		return nil, ErrNoImage
	}
	if thumb && series != "" {
		return &images[len(images)/2], nil
	}
	if thumb {
		first := images[0].SeriesUID
		var inSeries []index.Ref
		for _, r := range images {
			if r.SeriesUID == first {
				inSeries = append(inSeries, r)
			}
		}
		return &inSeries[len(inSeries)/2], nil
	}
	return &images[0], nil
}

// Render decodes frame n (1-based), renders it with opt and encodes the
// picture. It does not use the cache.
func (im *Image) Render(ctx context.Context, n int, opt RenderOptions) ([]byte, error) {
	if n < 1 || n > im.Count() {
		return nil, ErrNoSuchFrame
	}
	fr := im.lay.Frames[n-1]
	size := part10.FrameLength(im.lay, fr)
	if size > maxFrameBytes {
		return nil, tooLarge(n, size)
	}
	rawBuf, decBuf := getFrameBuf(), getFrameBuf()
	defer func() { putFrameBuf(rawBuf); putFrameBuf(decBuf) }()
	if int64(cap(rawBuf)) < size {
		rawBuf = make([]byte, 0, size)
	}
	buf := bytes.NewBuffer(rawBuf)
	if err := part10.WriteFrame(ctx, buf, im.open, im.lay, fr); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	rawBuf = raw
	if d := im.img.DecodedFrameSize(); int64(cap(decBuf)) < d && d > 0 && d <= maxFrameBytes {
		decBuf = make([]byte, 0, d)
	}
	dec, err := pixels.DecodeFrame(ctx, im.img, raw, decBuf[:0])
	if err != nil {
		return nil, err
	}
	var m image.Image
	if opt.Thumbnail {
		m, err = pixels.Thumbnail(ctx, im.img, dec, opt.RenderOptions)
	} else {
		m, err = pixels.Render(ctx, im.img, dec, opt.RenderOptions)
	}
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := pixels.Encode(&out, m, opt.Media, opt.Quality); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
