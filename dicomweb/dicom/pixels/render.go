package pixels

import (
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"math"
	"strconv"
	"strings"

	"golang.org/x/image/draw"
)

// MaxViewport bounds each side of a viewport.
const MaxViewport = 8192

// RenderOptions are the rendering parameters of a request.
type RenderOptions struct {
	// Window, when set, replaces the data set's VOI (grayscale only).
	Window *Window
	// Width and Height are the viewport (PS3.18 viewport=vw,vh): the picture
	// is scaled to fit inside it, keeping its aspect ratio. A zero side is
	// derived from the other; both zero: no scaling.
	Width, Height int
	// NoUpscale keeps pictures smaller than the viewport at their size.
	NoUpscale bool
}

// ParseViewport parses the PS3.18 viewport parameter "vw,vh". Either value
// may be empty (then derived from the other to keep the aspect ratio). The
// source-region form "vw,vh,sx,sy,sw,sh" is not supported and gives an
// error, as do sizes above MaxViewport.
func ParseViewport(s string) (w, h int, err error) {
	parts := strings.Split(s, ",")
	if len(parts) != 2 {
		return 0, 0, fmt.Errorf("pixels: viewport %.64q: want vw,vh", s)
	}
	var v [2]int
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > MaxViewport {
			return 0, 0, fmt.Errorf("pixels: viewport %.64q: sizes must be integers in 1..%d", s, MaxViewport)
		}
		v[i] = n
	}
	if v[0] == 0 && v[1] == 0 {
		return 0, 0, fmt.Errorf("pixels: viewport %.64q: no size", s)
	}
	return v[0], v[1], nil
}

// Render turns one decoded frame (DecodeFrame's output) into an 8-bit
// picture: *image.Gray for MONOCHROME1/2, *image.RGBA (opaque) for colour,
// scaled to the viewport of opt.
func Render(ctx context.Context, img *Image, frame []byte, opt RenderOptions) (image.Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opt.Width < 0 || opt.Height < 0 || opt.Width > MaxViewport || opt.Height > MaxViewport {
		return nil, fmt.Errorf("pixels: render: viewport %d×%d: %w", opt.Width, opt.Height, ErrInvalid)
	}
	if opt.Window != nil && !opt.Window.valid() {
		return nil, fmt.Errorf("pixels: render: window width %g: %w", opt.Window.Width, ErrInvalid)
	}
	if err := img.validate(); err != nil {
		return nil, fmt.Errorf("pixels: render: %w", err)
	}
	size := img.DecodedFrameSize()
	if size <= 0 || int64(len(frame)) < size {
		return nil, fmt.Errorf("pixels: render: frame of %d bytes, want %d: %w", len(frame), size, ErrInvalid)
	}
	frame = frame[:size]
	var m image.Image
	var err error
	switch pi := img.decodedPhotometric(); pi {
	case Monochrome1, Monochrome2:
		m, err = renderGray(img, frame, opt.Window)
	case PaletteRGB:
		m, err = renderPalette(img, frame)
	case RGB, YBRFull:
		m, err = renderColour(img, frame, pi == YBRFull)
	default:
		err = fmt.Errorf("pixels: render: photometric interpretation %s: %w", pi, codecUnsupported)
	}
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return scale(m, opt), nil
}

// ThumbnailFrame is the frame (0-based) that represents a multi-frame
// image in thumbnails: the middle one.
func ThumbnailFrame(img *Image) int {
	if img.NumberOfFrames <= 1 {
		return 0
	}
	return (img.NumberOfFrames - 1) / 2
}

// ThumbnailSize is the default thumbnail viewport.
const ThumbnailSize = 128

// Thumbnail renders a decoded frame (normally ThumbnailFrame's) to fit
// opt's viewport, ThumbnailSize×ThumbnailSize when none is given, never
// enlarging it.
func Thumbnail(ctx context.Context, img *Image, frame []byte, opt RenderOptions) (image.Image, error) {
	if opt.Width == 0 && opt.Height == 0 {
		opt.Width, opt.Height = ThumbnailSize, ThumbnailSize
	}
	opt.NoUpscale = true
	return Render(ctx, img, frame, opt)
}

// fitSize is the size of a w×h picture scaled to fit the viewport.
func fitSize(w, h int, opt RenderOptions) (int, int) {
	vw, vh := opt.Width, opt.Height
	if vw == 0 && vh == 0 {
		return w, h
	}
	s := math.Inf(1)
	if vw > 0 {
		s = float64(vw) / float64(w)
	}
	if vh > 0 {
		s = min(s, float64(vh)/float64(h))
	}
	if opt.NoUpscale && s > 1 {
		s = 1
	}
	nw := max(1, min(MaxViewport, int(math.Round(float64(w)*s))))
	nh := max(1, min(MaxViewport, int(math.Round(float64(h)*s))))
	return nw, nh
}

func scale(m image.Image, opt RenderOptions) image.Image {
	b := m.Bounds()
	w, h := fitSize(b.Dx(), b.Dy(), opt)
	if w == b.Dx() && h == b.Dy() {
		return m
	}
	r := image.Rect(0, 0, w, h)
	var dst draw.Image
	if _, ok := m.(*image.Gray); ok {
		dst = image.NewGray(r)
	} else {
		dst = image.NewRGBA(r)
	}
	draw.CatmullRom.Scale(dst, r, m, b, draw.Src, nil)
	return dst
}

// grayMapper maps stored values to 8-bit grey.
type grayMapper struct {
	img    *Image
	window Window
	voi    *LUT
	invert bool
}

// modality applies the Modality LUT or the rescale.
func (g *grayMapper) modality(v int64) float64 {
	if l := g.img.ModalityLUT; l != nil {
		return float64(l.Lookup(int(v)))
	}
	return float64(v)*g.img.RescaleSlope + g.img.RescaleIntercept
}

func (g *grayMapper) value(v int64) uint8 {
	m := g.modality(v)
	var y uint8
	if g.voi != nil {
		y = clamp8(float64(g.voi.Lookup(int(math.Floor(m+0.5)))) * 255 / float64(g.voi.Max()))
	} else {
		y = clamp8(g.window.apply(m))
	}
	if g.invert {
		y = 255 - y
	}
	return y
}

func renderGray(img *Image, frame []byte, win *Window) (*image.Gray, error) {
	conv := newSampleConv(img)
	conv.shift = 0
	bps := conv.bps
	n := img.Rows * img.Columns
	// 16-bit samples, the common case, take a fast path: each sample is
	// masked and, when signed, has its sign bit flipped, which maps it to
	// an unsigned key in the samples' order (value = key - flip); the
	// frame's range and the output are found through these keys.
	fast := bps == 2 && conv.stored <= 16 && n > 0
	var mask, flip, klo, khi uint16
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	if fast {
		src := frame[:2*n]
		mask = uint16(conv.mask)
		if conv.signed {
			flip = 1 << (conv.stored - 1)
		}
		klo, khi = 0xFFFF, 0
		for i := 0; i < len(src); i += 2 {
			k := binary.LittleEndian.Uint16(src[i:])&mask ^ flip
			klo, khi = min(klo, k), max(khi, k)
		}
		lo, hi = int64(klo)-int64(flip), int64(khi)-int64(flip)
	} else {
		for i := 0; i < n; i++ {
			v := conv.get(frame[i*bps:])
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	g := &grayMapper{img: img, invert: img.Photometric == Monochrome1}
	switch {
	case win != nil:
		g.window = *win
	case len(img.Windows) > 0:
		g.window = img.Windows[0]
	case len(img.VOILUTs) > 0:
		g.voi = img.VOILUTs[0]
	default:
		// No VOI: the frame's range of modality values, end to end.
		a, b := g.modality(lo), g.modality(hi)
		if g.img.ModalityLUT != nil {
			a, b = math.Inf(1), math.Inf(-1)
			for v := lo; v <= hi && v-lo < 1<<17; v++ {
				m := g.modality(v)
				a, b = min(a, m), max(b, m)
			}
		}
		if a > b {
			a, b = b, a
		}
		g.window = Window{Center: (a + b) / 2, Width: max(b-a, 1e-9), Function: LinearExact}
	}
	out := image.NewGray(image.Rect(0, 0, img.Columns, img.Rows))
	if hi-lo < 1<<20 {
		table := make([]uint8, hi-lo+1)
		for v := lo; v <= hi; v++ {
			table[v-lo] = g.value(v)
		}
		if fast {
			// Every key lies in [klo, khi], found above in the same frame.
			src := frame[:2*n]
			pix := out.Pix[:n]
			for i := range pix {
				pix[i] = table[binary.LittleEndian.Uint16(src[2*i:])&mask^flip-klo]
			}
			return out, nil
		}
		for i := 0; i < n; i++ {
			out.Pix[i] = table[conv.get(frame[i*bps:])-lo]
		}
		return out, nil
	}
	for i := 0; i < n; i++ {
		out.Pix[i] = g.value(conv.get(frame[i*bps:]))
	}
	return out, nil
}

func renderPalette(img *Image, frame []byte) (*image.RGBA, error) {
	p := img.Palette
	if p == nil {
		return nil, fmt.Errorf("pixels: render: PALETTE COLOR without palette: %w", ErrInvalid)
	}
	conv := newSampleConv(img)
	conv.shift = 0
	conv.signed = false // palette indexes are unsigned
	out := image.NewRGBA(image.Rect(0, 0, img.Columns, img.Rows))
	n := img.Rows * img.Columns
	to8 := func(l *LUT, v int) uint8 {
		if l.Bits == 16 {
			return uint8(l.Lookup(v) >> 8)
		}
		return uint8(l.Lookup(v))
	}
	for i := 0; i < n; i++ {
		v := int(conv.get(frame[i*conv.bps:]))
		o := out.Pix[4*i : 4*i+4 : 4*i+4]
		o[0], o[1], o[2], o[3] = to8(p.Red, v), to8(p.Green, v), to8(p.Blue, v), 255
	}
	return out, nil
}

func renderColour(img *Image, frame []byte, ybr bool) (*image.RGBA, error) {
	conv := newSampleConv(img)
	conv.shift = 0
	conv.signed = false
	bps := conv.bps
	bits := img.BitsStored
	maxV := float64(uint64(1)<<bits - 1)
	half := float64(uint64(1) << (bits - 1))
	out := image.NewRGBA(image.Rect(0, 0, img.Columns, img.Rows))
	n := img.Rows * img.Columns
	k := 255 / maxV
	for i := 0; i < n; i++ {
		s := frame[3*i*bps:]
		a, b, c := conv.get(s), conv.get(s[bps:]), conv.get(s[2*bps:])
		o := out.Pix[4*i : 4*i+4 : 4*i+4]
		o[3] = 255
		if !ybr && bits == 8 {
			o[0], o[1], o[2] = uint8(a), uint8(b), uint8(c)
			continue
		}
		r, g, bl := float64(a), float64(b), float64(c)
		if ybr {
			y, cb, cr := r, g-half, bl-half
			r = min(max(y+1.402*cr, 0), maxV)
			g = min(max(y-0.344136*cb-0.714136*cr, 0), maxV)
			bl = min(max(y+1.772*cb, 0), maxV)
		}
		o[0], o[1], o[2] = clamp8(r*k), clamp8(g*k), clamp8(bl*k)
	}
	return out, nil
}
