package dicomweb

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/storage"
)

// maxFramesPerRequest bounds a frame list.
const maxFramesPerRequest = 10000

// frames handles WADO-RS frames: .../instances/{i}/frames/1,3,5. Native
// frames go as application/octet-stream (little endian), encapsulated ones
// in their stored media type, each read by ranged reads of the object.
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
	ref, lay, err := s.layout(ctx, study, series, instance)
	if err != nil {
		return err
	}
	if len(lay.Frames) == 0 {
		return &httpError{404, "the instance has no pixel data frames"}
	}
	for _, n := range nums {
		if n > len(lay.Frames) {
			return &httpError{404, "frame number beyond the number of frames"}
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
	open := s.opener(ref)
	if plainFrames(lay) {
		return sendFrames(c, open, lay, nums, media, uid, single)
	}
	if single && len(nums) == 1 {
		f := lay.Frames[nums[0]-1]
		c.Response().Header().Set(echo.HeaderContentType, media+"; transfer-syntax="+uid)
		return s.writeLazily(c, func(w io.Writer) error { return part10.WriteFrame(ctx, w, open, lay, f) })
	}
	pw := newPartWriter(c, media)
	for _, n := range nums {
		f := lay.Frames[n-1]
		lw := &lazyPart{pw: pw, ct: media + "; transfer-syntax=" + uid, n: part10.FrameLength(lay, f)}
		if err := part10.WriteFrame(ctx, lw, open, lay, f); err != nil {
			return fmt.Errorf("frame %d: %w", n, err)
		}
		lw.ensure()
		pw.endPart()
	}
	return pw.close()
}

// sendFrames answers a frames request whose frames are plain copies of
// stored ranges (see plainFrames): the exact length is declared and the
// ranges go out by sendfile where the store allows it. An error before the
// first byte still becomes a status code.
func sendFrames(c echo.Context, open part10.OpenFunc, lay *part10.Layout, nums []int, media, uid string, single bool) error {
	ctx := c.Request().Context()
	res := c.Response()
	ct := media + "; transfer-syntax=" + uid
	if single && len(nums) == 1 {
		f := lay.Frames[nums[0]-1]
		return sendRanges(ctx, res, open, f.Ranges, func() {
			res.Header().Set(echo.HeaderContentType, ct)
			res.Header().Set(echo.HeaderContentLength, itoa(part10.FrameLength(lay, f)))
			res.WriteHeader(http.StatusOK)
		})
	}
	pw := newPartWriter(c, media)
	specs := make([]partSpec, len(nums))
	for i, n := range nums {
		specs[i] = partSpec{ct, part10.FrameLength(lay, lay.Frames[n-1])}
	}
	pw.setLength(specs)
	for i, n := range nums {
		err := sendRanges(ctx, res, open, lay.Frames[n-1].Ranges, func() { pw.part(ct, specs[i].length) })
		if err != nil {
			return fmt.Errorf("frame %d: %w", n, err)
		}
		pw.endPart()
	}
	return pw.close()
}

// bulkdata handles the BulkDataURIs handed out in metadata.
func (s *Server) bulkdata(c echo.Context) error {
	ctx := c.Request().Context()
	study, series, instance, err := uids(c)
	if err != nil {
		return err
	}
	path := strings.Trim(c.Param("*"), "/")
	ref, lay, err := s.layout(ctx, study, series, instance)
	if err != nil {
		return err
	}
	var bv *part10.BulkValue
	for i := range lay.Bulk {
		if lay.Bulk[i].Path == path {
			bv = &lay.Bulk[i]
			break
		}
	}
	if bv == nil {
		return errNotFound
	}
	ts, _ := part10.LookupTransferSyntax(ref.TransferSyntaxUID)
	open := s.opener(ref)
	if ts.Encapsulated && part10.Tag(parseHexTag(path)) == part10.TagPixelData {
		// Encapsulated pixel data: one part per frame, as stored.
		media, uid, _, err := negotiateFrames(acceptOf(c), ts, false)
		if err != nil {
			return err
		}
		if plainFrames(lay) {
			nums := make([]int, len(lay.Frames))
			for i := range nums {
				nums[i] = i + 1
			}
			return sendFrames(c, open, lay, nums, media, uid, false)
		}
		pw := newPartWriter(c, media)
		for i, f := range lay.Frames {
			lw := &lazyPart{pw: pw, ct: media + "; transfer-syntax=" + uid, n: part10.FrameLength(lay, f)}
			if err := part10.WriteFrame(ctx, lw, open, lay, f); err != nil {
				return fmt.Errorf("bulk frame %d: %w", i+1, err)
			}
			lw.ensure()
			pw.endPart()
		}
		return pw.close()
	}
	if !acceptsOctetStream(acceptOf(c)) {
		return notAcceptable("bulk data is available as multipart/related; type=\"application/octet-stream\"")
	}
	pw := newPartWriter(c, "application/octet-stream")
	lw := &lazyPart{pw: pw, ct: "application/octet-stream", n: -1}
	if err := part10.WriteBulk(ctx, lw, open, lay, *bv); err != nil {
		return fmt.Errorf("bulk %s: %w", path, err)
	}
	lw.ensure()
	pw.endPart()
	return pw.close()
}

func (s *Server) layout(ctx context.Context, study, series, instance string) (*index.Ref, *part10.Layout, error) {
	ref, err := s.idx.Instance(ctx, study, series, instance)
	if err != nil {
		return nil, nil, err
	}
	lay := new(part10.Layout)
	if err := lay.UnmarshalBinary(ref.Layout); err != nil {
		return nil, nil, fmt.Errorf("layout of a stored instance: %w", err)
	}
	return ref, lay, nil
}

// opener returns ranged reads of the instance's object; n < 0 reads to the
// end of the object.
func (s *Server) opener(ref *index.Ref) func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	return func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		if n < 0 {
			n = ref.Size - off
		}
		return storage.GetRange(ctx, s.store, ref.ObjectKey, off, n)
	}
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

// writeLazily runs fn with a writer that commits a 200 at its first byte.
func (s *Server) writeLazily(c echo.Context, fn func(w io.Writer) error) error {
	lw := &lazyBody{c: c}
	if err := fn(lw); err != nil {
		return err
	}
	lw.commit()
	return nil
}

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
