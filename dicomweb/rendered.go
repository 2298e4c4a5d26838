package dicomweb

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/archive/retrieve"
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

const defaultJPEGQuality = 90

// renderParams are the parsed query parameters of a rendered request.
type renderParams struct {
	media string
	opt   retrieve.RenderOptions
}

// parseRenderParams negotiates the media type and reads quality, window
// and viewport.
func parseRenderParams(c echo.Context) (*renderParams, error) {
	media, err := pickRenderedType(acceptOf(c))
	if err != nil {
		return nil, err
	}
	p := &renderParams{media: media, opt: retrieve.RenderOptions{Media: media, Quality: defaultJPEGQuality}}
	q := c.QueryParams()
	if v := q.Get("quality"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return nil, &httpError{http.StatusBadRequest, "quality must be an integer from 1 to 100"}
		}
		p.opt.Quality = n
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
	return p, nil
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
		p.opt.Thumbnail = thumb
		ref, err := s.ret.RenderTarget(ctx, study, series, instance, thumb)
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
				key := retrieve.RenderKey(ref, nums, p.opt)
				if done, err := s.cachedRender(c, key, p); done {
					return err
				}
			}
		}
		im, err := s.ret.Image(ctx, ref)
		if err != nil {
			return err
		}
		if len(nums) == 0 {
			n := 1
			if thumb {
				n = im.ThumbnailFrame()
			}
			nums = []int{n}
		}
		if thumb {
			nums = nums[:1]
		}
		for _, n := range nums {
			if n > im.Count() {
				return retrieve.ErrNoSuchFrame
			}
		}
		key := retrieve.RenderKey(ref, nums, p.opt)
		if len(nums) == 1 {
			if done, err := s.cachedRender(c, key, p); done {
				return err
			}
			body, err := im.Render(ctx, nums[0], p.opt)
			if err != nil {
				return err
			}
			s.ret.Cache(key, body)
			return c.Blob(http.StatusOK, p.media, body)
		}
		etag := renderETag(key)
		setRenderHeaders(c, etag)
		if inm := c.Request().Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
			return c.NoContent(http.StatusNotModified)
		}
		// Several frames: render each before its part, so an error before
		// the first part still gets a proper status.
		pw := newPartWriter(c, p.media)
		for _, n := range nums {
			body, err := im.Render(ctx, n, p.opt)
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

// renderETag is the ETag of a rendered answer: its render cache key
// (retrieve.RenderKey: the stored object's hash, the frames and the
// parameters), quoted.
func renderETag(key string) string { return `"` + key + `"` }

func setRenderHeaders(c echo.Context, etag string) {
	h := c.Response().Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("Vary", "Accept")
}

// cachedRender sets the caching headers of a one-picture answer and, when
// the client already has it (If-None-Match) or the picture is in the
// render cache under key, answers; done reports whether it did.
func (s *Server) cachedRender(c echo.Context, key string, p *renderParams) (done bool, err error) {
	etag := renderETag(key)
	setRenderHeaders(c, etag)
	if inm := c.Request().Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
		return true, c.NoContent(http.StatusNotModified)
	}
	if b, ok := s.ret.Cached(key); ok {
		return true, c.Blob(http.StatusOK, p.media, b)
	}
	return false, nil
}

// decodedFrames answers a frames request with decoded frames (Explicit VR
// Little Endian, application/octet-stream), decoding one frame at a time
// and each before its part is started, so that a decoding error of the
// first frame still gets a proper status.
func (s *Server) decodedFrames(c echo.Context, ref *index.Ref, nums []int, single bool) error {
	ctx := c.Request().Context()
	im, err := s.ret.Image(ctx, ref)
	if err != nil {
		return err
	}
	const ct = "application/octet-stream; transfer-syntax=" + explicitVRLittleEndian
	if single && len(nums) == 1 {
		body, err := im.Frame(ctx, nums[0])
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderContentType, ct)
		c.Response().WriteHeader(http.StatusOK)
		return body.WriteTo(ctx, c.Response())
	}
	pw := newPartWriter(c, "application/octet-stream")
	for _, n := range nums {
		body, err := im.Frame(ctx, n)
		if err != nil {
			return fmt.Errorf("frame %d: %w", n, err)
		}
		if err := body.WriteTo(ctx, pw.part(ct, body.Size)); err != nil {
			return err
		}
		pw.endPart()
	}
	return pw.close()
}
