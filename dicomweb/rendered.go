package dicomweb

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels"
	"github.com/minipacs/minipacs/index"
)

// Rendered and thumbnail resources (PS3.18 §8.3.5, §8.7.4, Sup 203).
//
//   - .../instances/{i}/rendered renders frame 1; .../frames/{list}/rendered
//     renders each listed frame (several frames: multipart/related of
//     images); .../series/{s}/rendered and .../studies/{s}/rendered render
//     frame 1 of the first image instance (as Orthanc does: a single picture
//     representing the resource, since JPEG and PNG hold one frame).
//   - thumbnail at every level is one picture, at most 128×128 unless a
//     viewport says otherwise, never enlarged: the middle frame of the
//     middle image instance of the series (or of the study). Thumbnails are
//     cached in memory by object hash and parameters.
//   - image/jpeg (default, quality 90 unless quality=) or image/png;
//     window=center,width[,function]; viewport=vw,vh.

const (
	defaultJPEGQuality = 90
	// maxRenderFrameBytes bounds the stored frame read into memory for
	// rendering (one frame at a time).
	maxRenderFrameBytes = 512 << 20
	// thumbCacheBytes bounds the thumbnail cache.
	thumbCacheBytes = 64 << 20
)

// renderParams are the parsed query parameters of a rendered request.
type renderParams struct {
	media   string
	quality int
	opt     pixels.RenderOptions
	key     string // canonical form, for the cache and the ETag
}

// parseRenderParams negotiates the media type and reads quality, window
// and viewport.
func parseRenderParams(c echo.Context) (*renderParams, error) {
	p := &renderParams{quality: defaultJPEGQuality}
	media, err := pickRenderedType(acceptOf(c))
	if err != nil {
		return nil, err
	}
	p.media = media
	q := c.QueryParams()
	if v := q.Get("quality"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return nil, &httpError{http.StatusBadRequest, "quality must be an integer from 1 to 100"}
		}
		p.quality = n
	}
	if v := q.Get("window"); v != "" {
		w, err := pixels.ParseWindow(v)
		if err != nil {
			return nil, &httpError{http.StatusBadRequest, "window must be center,width[,linear|linear-exact|sigmoid] with width > 0"}
		}
		p.opt.Window = &w
	}
	if v := q.Get("viewport"); v != "" {
		w, h, err := pixels.ParseViewport(v)
		if err != nil {
			return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("viewport must be vw,vh with sizes from 1 to %d", pixels.MaxViewport)}
		}
		p.opt.Width, p.opt.Height = w, h
	}
	p.key = fmt.Sprintf("%s|q%d|w%v|v%dx%d", p.media, p.quality, windowKey(p.opt.Window), p.opt.Width, p.opt.Height)
	return p, nil
}

func windowKey(w *pixels.Window) string {
	if w == nil {
		return ""
	}
	return fmt.Sprintf("%+v", *w)
}

// pickRenderedType picks image/jpeg or image/png from an Accept header;
// no header, */* and image/* give image/jpeg.
func pickRenderedType(accept string) (string, error) {
	if strings.TrimSpace(accept) == "" {
		return "image/jpeg", nil
	}
	for _, mr := range parseAccept(accept) {
		switch mr.typ {
		case "image/jpeg", "*/*", "image/*":
			return "image/jpeg", nil
		case "image/png":
			return "image/png", nil
		case "multipart/related":
			switch mr.params["type"] {
			case "image/jpeg", "":
				return "image/jpeg", nil
			case "image/png":
				return "image/png", nil
			}
		}
	}
	return "", notAcceptable("rendered images are available as image/jpeg or image/png")
}

// rendered handles the rendered and thumbnail resources at every level.
func (s *Server) rendered(thumb bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		study, series, instance, err := uids(c)
		if err != nil {
			return err
		}
		var nums []int
		if fl := c.Param("frames"); fl != "" {
			if nums, err = parseFrameList(fl); err != nil {
				return err
			}
		}
		p, err := parseRenderParams(c)
		if err != nil {
			return err
		}
		ref, err := s.renderTarget(ctx, study, series, instance, thumb)
		if err != nil {
			return err
		}
		if !thumb {
			// The ETag of a rendered frame needs only the object's hash and
			// the request: a repeated request is answered from the cache (or
			// with a 304) without parsing or decoding the object again.
			if len(nums) == 0 {
				nums = []int{1}
			}
			if len(nums) == 1 {
				etag := renderETag(ref, thumb, nums, p)
				if done, err := s.cachedRender(c, etag, p); done {
					return err
				}
			}
		}
		src, err := s.openPixels(ctx, ref)
		if err != nil {
			return err
		}
		if len(nums) == 0 {
			n := 1
			if thumb {
				n = pixels.ThumbnailFrame(src.img) + 1
			}
			nums = []int{n}
		}
		if thumb {
			nums = nums[:1]
		}
		for _, n := range nums {
			if n > len(src.lay.Frames) {
				return &httpError{http.StatusNotFound, "frame number beyond the number of frames"}
			}
		}
		etag := renderETag(ref, thumb, nums, p)
		if len(nums) == 1 {
			if done, err := s.cachedRender(c, etag, p); done {
				return err
			}
			body, err := s.renderFrame(ctx, src, nums[0], p, thumb)
			if err != nil {
				return err
			}
			s.thumbs.put(etag, body)
			return c.Blob(http.StatusOK, p.media, body)
		}
		setRenderHeaders(c, etag)
		if inm := c.Request().Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
			return c.NoContent(http.StatusNotModified)
		}
		// Several frames: render each before its part, so an error before
		// the first part still gets a proper status.
		pw := newPartWriter(c, p.media)
		for _, n := range nums {
			body, err := s.renderFrame(ctx, src, n, p, false)
			if err != nil {
				return err
			}
			w := pw.part(p.media, int64(len(body)))
			if _, err := w.Write(body); err != nil {
				return err
			}
			pw.endPart()
		}
		return pw.close()
	}
}

// renderETag is the ETag of a rendered answer: the stored object's hash,
// the frames and the parameters.
func renderETag(ref *index.Ref, thumb bool, nums []int, p *renderParams) string {
	return `"` + hashKey(hex.EncodeToString(ref.SHA256[:]), fmt.Sprint(thumb, nums), p.key) + `"`
}

func setRenderHeaders(c echo.Context, etag string) {
	h := c.Response().Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("Vary", "Accept")
}

// cachedRender sets the caching headers of a one-picture answer and, when
// the client already has it (If-None-Match) or the picture is in the
// render cache, answers; done reports whether it did.
func (s *Server) cachedRender(c echo.Context, etag string, p *renderParams) (done bool, err error) {
	setRenderHeaders(c, etag)
	if inm := c.Request().Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
		return true, c.NoContent(http.StatusNotModified)
	}
	if b, ok := s.thumbs.get(etag); ok {
		return true, c.Blob(http.StatusOK, p.media, b)
	}
	return false, nil
}

// renderTarget picks the instance a rendered or thumbnail request shows.
func (s *Server) renderTarget(ctx context.Context, study, series, instance string, thumb bool) (*index.Ref, error) {
	if instance != "" {
		return s.idx.Instance(ctx, study, series, instance)
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
		return nil, &httpError{http.StatusNotFound, "no instance with pixel data"}
	}
	if thumb && series != "" {
		return &images[len(images)/2], nil
	}
	if thumb {
		// A study: the middle image of its first series that has images.
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

// pixelSource is a stored instance ready for rendering or decoding.
type pixelSource struct {
	ref  *index.Ref
	file *part10.File
	lay  *part10.Layout
	img  *pixels.Image
	open part10.OpenFunc
}

// openPixels parses the stored object (skipping bulk values) and describes
// its pixel data.
func (s *Server) openPixels(ctx context.Context, ref *index.Ref) (*pixelSource, error) {
	open := s.opener(ref)
	ra := &objectReader{ctx: ctx, open: open, size: ref.Size}
	f, err := part10.Parse(ctx, ra, ref.Size, part10.Limits{})
	ra.close()
	if err != nil {
		return nil, fmt.Errorf("parse stored object: %w", err)
	}
	if len(f.Layout.Frames) == 0 {
		return nil, &httpError{http.StatusNotFound, "the instance has no pixel data"}
	}
	img, err := pixels.Describe(ctx, f.DataSet, ref.TransferSyntaxUID, pixels.LayoutLoader(open, &f.Layout))
	if err != nil {
		return nil, err
	}
	return &pixelSource{ref: ref, file: f, lay: &f.Layout, img: img, open: open}, nil
}

// storedFrame reads stored frame n (1-based) into memory.
func (src *pixelSource) storedFrame(ctx context.Context, n int) ([]byte, error) {
	fr := src.lay.Frames[n-1]
	size := part10.FrameLength(src.lay, fr)
	if size > maxRenderFrameBytes {
		return nil, notAcceptable("frame %d is too large to decode (%d bytes)", n, size)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	if err := part10.WriteFrame(ctx, buf, src.open, src.lay, fr); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// transcoder returns a function that gives stored frame n (1-based) as
// native little endian samples (pixels.TranscodeFrame), reusing its output
// buffer: a result is valid until the next call.
func (src *pixelSource) transcoder() func(ctx context.Context, n int) ([]byte, error) {
	var buf []byte
	return func(ctx context.Context, n int) ([]byte, error) {
		raw, err := src.storedFrame(ctx, n)
		if err != nil {
			return nil, err
		}
		out, err := pixels.TranscodeFrame(ctx, src.img, raw, buf)
		if err != nil {
			return nil, err
		}
		buf = out[:0]
		return out, nil
	}
}

// frameBufs recycles the stored and decoded frame buffers of renderFrame
// (each a frame's size: 512 KiB for a CT slice), which would otherwise be
// allocated twice per rendered picture.
var frameBufs sync.Pool

func getFrameBuf() []byte {
	if b, ok := frameBufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return nil
}

func putFrameBuf(b []byte) {
	if cap(b) == 0 || cap(b) > 64<<20 {
		return
	}
	b = b[:0]
	frameBufs.Put(&b)
}

// renderFrame decodes, renders and encodes frame n.
func (s *Server) renderFrame(ctx context.Context, src *pixelSource, n int, p *renderParams, thumb bool) ([]byte, error) {
	fr := src.lay.Frames[n-1]
	size := part10.FrameLength(src.lay, fr)
	if size > maxRenderFrameBytes {
		return nil, notAcceptable("frame %d is too large to decode (%d bytes)", n, size)
	}
	rawBuf, decBuf := getFrameBuf(), getFrameBuf()
	defer func() { putFrameBuf(rawBuf); putFrameBuf(decBuf) }()
	if int64(cap(rawBuf)) < size {
		rawBuf = make([]byte, 0, size)
	}
	buf := bytes.NewBuffer(rawBuf)
	if err := part10.WriteFrame(ctx, buf, src.open, src.lay, fr); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	rawBuf = raw
	if d := src.img.DecodedFrameSize(); int64(cap(decBuf)) < d && d > 0 && d <= maxRenderFrameBytes {
		decBuf = make([]byte, 0, d)
	}
	dec, err := pixels.DecodeFrame(ctx, src.img, raw, decBuf[:0])
	if err != nil {
		return nil, err
	}
	var m image.Image
	if thumb {
		m, err = pixels.Thumbnail(ctx, src.img, dec, p.opt)
	} else {
		m, err = pixels.Render(ctx, src.img, dec, p.opt)
	}
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := pixels.Encode(&out, m, p.media, p.quality); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// decodedPixels describes the decoded frames of src for
// part10.WriteExplicitLEDecoded, decoding one frame at a time.
func (src *pixelSource) decodedPixels() *part10.DecodedPixels {
	d := src.img.Decoded()
	vr := "OW"
	if d.BitsAllocated <= 8 {
		vr = "OB"
	}
	frame := src.transcoder()
	set := []*part10.Element{
		csElement(part10.TagPhotometricInterpretation, d.Photometric),
		usElement(0x00280100, d.BitsAllocated),
		usElement(0x00280101, d.BitsStored),
		usElement(0x00280102, d.HighBit),
	}
	if src.img.SamplesPerPixel > 1 {
		set = append(set, usElement(0x00280006, d.PlanarConfiguration))
	}
	if ts, _ := part10.LookupTransferSyntax(src.img.TransferSyntaxUID); ts.Lossy || src.img.LossyImageCompression {
		// Decoding does not undo a lossy compression (PS3.3 C.7.6.1.1.5).
		set = append(set, csElement(0x00282110, "01"))
	}
	return &part10.DecodedPixels{
		VR: vr, Frames: len(src.lay.Frames), FrameSize: d.FrameSize,
		WriteFrame: func(ctx context.Context, w io.Writer, i int) error {
			out, err := frame(ctx, i+1)
			if err != nil {
				return err
			}
			_, err = w.Write(out)
			return err
		},
		Set: set,
	}
}

func csElement(t part10.Tag, v string) *part10.Element {
	if len(v)%2 == 1 {
		v += " "
	}
	return &part10.Element{Tag: t, VR: "CS", Length: uint32(len(v)), Value: []byte(v)}
}

func usElement(t part10.Tag, v int) *part10.Element {
	return &part10.Element{Tag: t, VR: "US", Length: 2, Value: []byte{byte(v), byte(v >> 8)}}
}

func hashKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		io.WriteString(h, p)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// byteLRU is a size-bounded LRU cache of byte slices.
type byteLRU struct {
	mu    sync.Mutex
	max   int
	size  int
	ll    *list.List
	items map[string]*list.Element
}

type lruEntry struct {
	key string
	val []byte
}

func newByteLRU(max int) *byteLRU {
	return &byteLRU{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *byteLRU) get(k string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*lruEntry).val, true
	}
	return nil, false
}

func (c *byteLRU) put(k string, v []byte) {
	if len(v) > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[k]; ok {
		return
	}
	c.items[k] = c.ll.PushFront(&lruEntry{k, v})
	c.size += len(v)
	for c.size > c.max {
		e := c.ll.Back()
		ent := e.Value.(*lruEntry)
		c.ll.Remove(e)
		delete(c.items, ent.key)
		c.size -= len(ent.val)
	}
}

// decodedFrames answers a frames request with decoded frames (Explicit VR
// Little Endian, application/octet-stream), decoding one frame at a time
// and each before its part is started, so that a decoding error of the
// first frame still gets a proper status.
func (s *Server) decodedFrames(c echo.Context, ref *index.Ref, nums []int, single bool) error {
	ctx := c.Request().Context()
	src, err := s.openPixels(ctx, ref)
	if err != nil {
		return err
	}
	const ct = "application/octet-stream; transfer-syntax=" + explicitVRLittleEndian
	frame := src.transcoder()
	if single && len(nums) == 1 {
		out, err := frame(ctx, nums[0])
		if err != nil {
			return err
		}
		return c.Blob(http.StatusOK, ct, out)
	}
	pw := newPartWriter(c, "application/octet-stream")
	for _, n := range nums {
		out, err := frame(ctx, n)
		if err != nil {
			return fmt.Errorf("frame %d: %w", n, err)
		}
		if _, err := pw.part(ct, int64(len(out))).Write(out); err != nil {
			return err
		}
		pw.endPart()
	}
	return pw.close()
}
