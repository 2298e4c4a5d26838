package dicomweb

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels"
	"github.com/minipacs/minipacs/index"
)

// retrieve handles WADO-RS retrieval of a study, series or instance as
// multipart/related; type="application/dicom", streamed object by object:
// the stored bytes, or for native objects not stored as Explicit VR Little
// Endian, when that syntax is asked for (also by naming none), the object
// re-encoded on the fly (see openInstance).
func (s *Server) retrieve(c echo.Context) error {
	ctx := c.Request().Context()
	study, series, instance, err := uids(c)
	if err != nil {
		return err
	}
	refs, err := s.refs(ctx, study, series, instance)
	if err != nil {
		return err
	}
	for _, r := range refs {
		touched(c, r.StudyUID, 1)
	}
	choices := acceptDICOM(acceptOf(c), instance != "")
	if len(choices) == 0 {
		return notAcceptable("this resource is available as multipart/related; type=\"application/dicom\"")
	}
	// Decide every instance's syntax before the first byte is sent.
	syntaxes := make([]string, len(refs))
	single := false
	for i, ref := range refs {
		ts, _ := part10.LookupTransferSyntax(ref.TransferSyntaxUID)
		decodable := ts.Encapsulated && pixels.CanDecode(ts.UID)
		ok := false
		for _, ch := range choices {
			uid, yes := pickSyntax(ch, ts, decodable)
			if yes && uid != ts.UID && ref.SOPClassUID == part10.MediaStorageDirectoryStorage {
				yes = false // a DICOMDIR holds file offsets: never re-encoded
			}
			if yes {
				syntaxes[i], single, ok = uid, ch.singlePart, true
				break
			}
		}
		if !ok {
			return notAcceptable("an instance is stored in a transfer syntax that cannot be converted to the one requested; ask with transfer-syntax=*")
		}
	}

	if single && len(refs) == 1 {
		body, err := s.openInstance(ctx, &refs[0], syntaxes[0])
		if err != nil {
			return fmt.Errorf("retrieve: %w", err)
		}
		defer body.close()
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, "application/dicom; transfer-syntax="+syntaxes[0])
		if body.size >= 0 {
			h.Set(echo.HeaderContentLength, itoa(body.size))
		}
		c.Response().WriteHeader(http.StatusOK)
		if body.stored != nil {
			return sendFrom(c.Response(), body.stored, body.size)
		}
		return body.writeTo(ctx, c.Response())
	}

	pw := newPartWriter(c, "application/dicom")
	// When every instance goes as stored, the index knows every size: the
	// body's length is declared up front, so it is not chunked and the
	// objects go out by sendfile (see sendFrom).
	specs := make([]partSpec, len(refs))
	for i := range refs {
		specs[i] = partSpec{"application/dicom; transfer-syntax=" + syntaxes[i], -1}
		if ts, _ := part10.LookupTransferSyntax(refs[i].TransferSyntaxUID); syntaxes[i] == ts.UID {
			specs[i].length = refs[i].Size // sent as stored (see openInstance)
		}
	}
	pw.setLength(specs)
	for i := range refs {
		body, err := s.openInstance(ctx, &refs[i], syntaxes[i])
		if err != nil {
			return fmt.Errorf("retrieve %d of %d: %w", i+1, len(refs), err)
		}
		if pw.length >= 0 && body.size != specs[i].length {
			body.close()
			return fmt.Errorf("retrieve %d of %d: stored object has %d bytes, the index says %d", i+1, len(refs), body.size, specs[i].length)
		}
		w := pw.part(specs[i].contentType, body.size)
		if body.stored != nil {
			err = sendFrom(c.Response(), body.stored, body.size)
		} else {
			err = body.writeTo(ctx, w)
		}
		body.close()
		if err != nil {
			return fmt.Errorf("retrieve %d of %d: %w", i+1, len(refs), err)
		}
		pw.endPart()
	}
	return pw.close()
}

// instanceBody is one instance ready to be sent: its size and how to write
// it.
type instanceBody struct {
	size int64
	// stored, when set, is the stored object itself (size bytes), to be
	// sent with sendFrom; otherwise writeTo writes the body.
	stored  io.Reader
	writeTo func(ctx context.Context, w io.Writer) error
	close   func()
}

// openInstance prepares the instance ref for sending in transfer syntax
// uid: the stored bytes when uid is the stored syntax, or else the object
// re-encoded as Explicit VR Little Endian. For that the stored object is
// parsed again (its structure is not in the index), reading it front to
// back and skipping bulk values; the parse, and so any error it finds,
// happens here, before the caller writes anything.
func (s *Server) openInstance(ctx context.Context, ref *index.Ref, uid string) (*instanceBody, error) {
	ts, _ := part10.LookupTransferSyntax(ref.TransferSyntaxUID)
	if uid != ts.UID && uid != explicitVRLittleEndian {
		return nil, fmt.Errorf("cannot convert %s to %s", ts.UID, uid)
	}
	if uid == ts.UID {
		rc, size, err := s.store.Get(ctx, ref.ObjectKey)
		if err != nil {
			return nil, err
		}
		return &instanceBody{
			size:   size,
			stored: rc,
			writeTo: func(ctx context.Context, w io.Writer) error {
				if _, err := io.Copy(w, io.LimitReader(rc, size)); err != nil {
					return fmt.Errorf("copy: %w", err)
				}
				return nil
			},
			close: func() { rc.Close() },
		}, nil
	}
	if ts.Encapsulated {
		src, err := s.openPixels(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("decode stored object: %w", err)
		}
		px := src.decodedPixels()
		return &instanceBody{
			size: -1, // known only after decoding
			writeTo: func(ctx context.Context, w io.Writer) error {
				return part10.WriteExplicitLEDecoded(ctx, w, src.file, src.open, px)
			},
			close: func() {},
		}, nil
	}
	open := s.opener(ref)
	ra := &objectReader{ctx: ctx, open: open, size: ref.Size}
	f, err := part10.Parse(ctx, ra, ref.Size, part10.Limits{})
	ra.close()
	if err != nil {
		return nil, fmt.Errorf("parse stored object for re-encoding: %w", err)
	}
	size, ok := part10.ExplicitLELength(f)
	if !ok {
		return nil, fmt.Errorf("re-encode stored object: %w", part10.CanWriteExplicitLE(f))
	}
	return &instanceBody{
		size: size,
		writeTo: func(ctx context.Context, w io.Writer) error {
			return part10.WriteExplicitLE(ctx, w, f, open)
		},
		close: func() {},
	}, nil
}

// objectReader is the io.ReaderAt over a stored object that part10.Parse
// reads through. Parse reads front to back, so it keeps one ranged read
// open (to the end of the object) behind a read-ahead buffer, discards
// short gaps and opens a new ranged read for long forward jumps (skipped
// bulk values) and backward reads. It is not safe for concurrent use, and
// it carries the request's ctx because ReadAt has no ctx parameter: it
// lives for one Parse only.
type objectReader struct {
	ctx  context.Context
	open part10.OpenFunc
	size int64
	rc   io.ReadCloser
	br   *bufio.Reader
	pos  int64 // object offset of the next byte of br
}

const (
	objectReadAhead = 64 << 10
	objectMaxGap    = 256 << 10 // forward jumps up to this are read and discarded
)

func (o *objectReader) close() {
	if o.rc != nil {
		o.rc.Close()
		o.rc = nil
	}
}

func (o *objectReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read stored object at %d: negative offset", off)
	}
	if off >= o.size {
		return 0, io.EOF
	}
	want := p
	if rest := o.size - off; int64(len(p)) > rest {
		want = p[:rest]
	}
	if o.rc == nil || off < o.pos || off-o.pos > objectMaxGap {
		o.close()
		rc, err := o.open(o.ctx, off, o.size-off)
		if err != nil {
			return 0, fmt.Errorf("read stored object at %d: %w", off, err)
		}
		o.rc, o.pos = rc, off
		if o.br == nil {
			o.br = bufio.NewReaderSize(rc, objectReadAhead)
		} else {
			o.br.Reset(rc)
		}
	}
	if gap := off - o.pos; gap > 0 {
		n, err := o.br.Discard(int(gap))
		o.pos += int64(n)
		if err != nil {
			o.close()
			return 0, fmt.Errorf("read stored object at %d: %w", off, err)
		}
	}
	n, err := io.ReadFull(o.br, want)
	o.pos += int64(n)
	if err != nil {
		o.close()
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, fmt.Errorf("read stored object at %d: %w", off, err)
	}
	if len(want) < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// refs lists the instances a path names: one instance, a series or a study.
func (s *Server) refs(ctx context.Context, study, series, instance string) ([]index.Ref, error) {
	if instance != "" {
		ref, err := s.idx.Instance(ctx, study, series, instance)
		if err != nil {
			return nil, err
		}
		return []index.Ref{*ref}, nil
	}
	return s.idx.Refs(ctx, study, series)
}

// delete removes a study, series or instance: index entries first (one
// commit), then the objects.
func (s *Server) delete(c echo.Context) error {
	ctx := c.Request().Context()
	study, series, instance, err := uids(c)
	if err != nil {
		return err
	}
	keys, err := s.idx.Delete(ctx, study, series, instance)
	if err != nil {
		return err
	}
	s.ing.DeleteObjects(context.WithoutCancel(ctx), keys...)
	s.log.Info("deleted", "study", study, "series", series, "instance", instance, "objects", len(keys))
	return c.NoContent(http.StatusNoContent)
}
