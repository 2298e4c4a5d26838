package dicomweb

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/archive/retrieve"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels"
)

// maxFramesPerRequest bounds a frame list.
const maxFramesPerRequest = 10000

// frames handles WADO-RS frames: .../instances/{i}/frames/1,3,5. Native
// frames go as application/octet-stream (little endian), encapsulated ones
// in their stored media type, each read by ranged reads of the object, or
// decoded when asked for as Explicit VR Little Endian.
func (s *Server) frames(c echo.Context) error {
	ctx := c.Request().Context()
	study, series, instance, err := uids(c)
	if err != nil {
		return err
	}
	nums, err := parseFrameList(c.Param("frames"))
	if err != nil {
		return err
	}
	ref, err := s.ret.Ref(ctx, study, series, instance)
	if err != nil {
		return err
	}
	frames, err := s.ret.Frames(ctx, ref)
	if err != nil {
		return err
	}
	for _, n := range nums {
		if n > frames.Count() {
			return retrieve.ErrNoSuchFrame
		}
	}
	ts, _ := part10.LookupTransferSyntax(ref.TransferSyntaxUID)
	media, uid, single, err := negotiateFrames(acceptOf(c), ts, ts.Encapsulated && pixels.CanDecode(ts.UID))
	if err != nil {
		return err
	}
	if ts.Encapsulated && uid == explicitVRLittleEndian {
		return s.decodedFrames(c, ref, nums, single)
	}
	return sendFrames(c, frames, nums, media, uid, single)
}

// sendFrames answers a frames request with stored frames. When they are
// plain copies of stored ranges (retrieve.Frames.Direct), the exact
// length is declared and the ranges go out by sendfile where the store
// allows it; otherwise each part is opened at its first byte. Either way
// an error before the first byte still becomes a status code.
func sendFrames(c echo.Context, frames *retrieve.Frames, nums []int, media, uid string, single bool) error {
	ctx := c.Request().Context()
	res := c.Response()
	ct := media + "; transfer-syntax=" + uid
	if single && len(nums) == 1 {
		body, err := frames.Frame(ctx, nums[0])
		if err != nil {
			return err
		}
		defer body.Close()
		res.Header().Set(echo.HeaderContentType, ct)
		if !frames.Direct() {
			lw := &lazyBody{c: c}
			if err := body.WriteTo(ctx, lw); err != nil {
				return err
			}
			lw.commit()
			return nil
		}
		res.Header().Set(echo.HeaderContentLength, itoa(body.Size))
		res.WriteHeader(http.StatusOK)
		return body.WriteTo(ctx, sendWriter{res})
	}
	pw := newPartWriter(c, media)
	if frames.Direct() {
		specs := make([]partSpec, len(nums))
		for i, n := range nums {
			specs[i] = partSpec{ct, frames.FrameSize(n)}
		}
		pw.setLength(specs)
	}
	for _, n := range nums {
		if err := sendFrame(ctx, pw, frames, n, ct); err != nil {
			return fmt.Errorf("frame %d: %w", n, err)
		}
	}
	return pw.close()
}

// sendFrame writes stored frame n as a part of pw: a direct frame (whose
// object is open) at once, through sendWriter; any other at its first
// byte, so that an error before it still becomes a status code.
func sendFrame(ctx context.Context, pw *partWriter, frames *retrieve.Frames, n int, ct string) error {
	body, err := frames.Frame(ctx, n)
	if err != nil {
		return err
	}
	defer body.Close()
	if frames.Direct() {
		pw.part(ct, body.Size)
		err = body.WriteTo(ctx, sendWriter{pw.c.Response()})
	} else {
		lw := &lazyPart{pw: pw, ct: ct, n: body.Size}
		if err = body.WriteTo(ctx, lw); err == nil {
			lw.ensure()
		}
	}
	if err != nil {
		return err
	}
	pw.endPart()
	return nil
}

// bulkdata handles the BulkDataURIs handed out in metadata.
func (s *Server) bulkdata(c echo.Context) error {
	ctx := c.Request().Context()
	study, series, instance, err := uids(c)
	if err != nil {
		return err
	}
	path := strings.Trim(c.Param("*"), "/")
	ref, err := s.ret.Ref(ctx, study, series, instance)
	if err != nil {
		return err
	}
	body, err := s.ret.Bulk(ctx, ref, path)
	if err != nil {
		return err
	}
	defer body.Close()
	ts, _ := part10.LookupTransferSyntax(ref.TransferSyntaxUID)
	if ts.Encapsulated && part10.Tag(parseHexTag(path)) == part10.TagPixelData {
		// Encapsulated pixel data: one part per frame, as stored.
		media, uid, _, err := negotiateFrames(acceptOf(c), ts, false)
		if err != nil {
			return err
		}
		frames, err := s.ret.Frames(ctx, ref)
		if err != nil {
			return err
		}
		nums := make([]int, frames.Count())
		for i := range nums {
			nums[i] = i + 1
		}
		return sendFrames(c, frames, nums, media, uid, false)
	}
	if !acceptsOctetStream(acceptOf(c)) {
		return notAcceptable("bulk data is available as multipart/related; type=\"application/octet-stream\"")
	}
	pw := newPartWriter(c, "application/octet-stream")
	lw := &lazyPart{pw: pw, ct: "application/octet-stream", n: -1}
	if err := body.WriteTo(ctx, lw); err != nil {
		return fmt.Errorf("bulk %s: %w", path, err)
	}
	lw.ensure()
	pw.endPart()
	return pw.close()
}

// negotiateFrames picks the media type and transfer syntax of frames.
func negotiateFrames(accept string, ts part10.TransferSyntax, decodable bool) (media, uid string, single bool, err error) {
	for _, ch := range acceptFrames(accept) {
		if m, u, ok := pickFrameSyntax(ch, ts, decodable); ok {
			return m, u, ch.singlePart, nil
		}
	}
	if ts.Encapsulated {
		return "", "", false, notAcceptable("frames are stored compressed (%s); ask with transfer-syntax=* or the stored media type", ts.MediaType)
	}
	return "", "", false, notAcceptable("frames are available as multipart/related; type=\"application/octet-stream\"")
}

func acceptsOctetStream(h string) bool {
	for _, ch := range acceptFrames(h) {
		if ch.media == "application/octet-stream" {
			return true
		}
	}
	return false
}

// parseFrameList parses "1,3,5" (1-based frame numbers).
func parseFrameList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, badRequest("frame numbers are positive integers separated by commas")
		}
		out = append(out, n)
		if len(out) > maxFramesPerRequest {
			return nil, badRequest("too many frames in one request")
		}
	}
	return out, nil
}

func parseHexTag(s string) uint32 {
	if len(s) != 8 {
		return 0
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0
	}
	return uint32(v)
}

// lazyPart opens its multipart part at the first byte, so that an error
// before any byte of the first part can still become a status code.
type lazyPart struct {
	pw *partWriter
	ct string
	n  int64
	w  io.Writer
}

func (l *lazyPart) ensure() {
	if l.w == nil {
		l.w = l.pw.part(l.ct, l.n)
	}
}

func (l *lazyPart) Write(p []byte) (int, error) {
	l.ensure()
	return l.w.Write(p)
}

// lazyBody commits a 200 at its first byte, so that an error before it
// can still become a status code.
type lazyBody struct {
	c       echo.Context
	started bool
}

func (l *lazyBody) commit() {
	if !l.started {
		l.started = true
		l.c.Response().WriteHeader(200)
	}
}

func (l *lazyBody) Write(p []byte) (int, error) {
	l.commit()
	return l.c.Response().Write(p)
}
