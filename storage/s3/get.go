package s3

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"

	"github.com/minio/minio-go/v7"
)

// Get opens the object. It issues the GET at once (minio.Core, not the lazy
// minio.Client.GetObject), so a missing key is reported here and not at the
// first Read. The size is the Content-Length of the answer.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	name, err := s.object("get", key)
	if err != nil {
		return nil, 0, err
	}
	op := fmt.Sprintf("s3: get %q", key)
	wctx, wd := newWatchdog(ctx, s.timeout)
	rc, info, _, err := minio.Core{Client: s.client}.GetObject(wctx, s.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		wd.stop()
		return nil, 0, translate(op, timedOut(wctx, err))
	}
	if info.Size < 0 {
		rc.Close()
		wd.stop()
		return nil, 0, fmt.Errorf("%s: no Content-Length in the answer", op)
	}
	wd.disarm()
	return &body{rc: &watchedBody{rc, wd}, op: op, ctx: wctx}, info.Size, nil
}

// GetRange returns n bytes of the object starting at off; see
// storage.RangeGetter. It is one ranged GET (a HEAD when n is 0).
func (s *Store) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	name, err := s.object("get range", key)
	if err != nil {
		return nil, err
	}
	op := fmt.Sprintf("s3: get range %q [%d,+%d]", key, off, n)
	if off < 0 || n < 0 || n > math.MaxInt64-off {
		return nil, fmt.Errorf("%s: %w", op, io.ErrUnexpectedEOF)
	}
	if n == 0 {
		size, err := s.Stat(ctx, key)
		if err != nil {
			return nil, err
		}
		if off > size {
			return nil, fmt.Errorf("%s of %d bytes: %w", op, size, io.ErrUnexpectedEOF)
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	var opts minio.GetObjectOptions
	if err := opts.SetRange(off, off+n-1); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	wctx, wd := newWatchdog(ctx, s.timeout)
	rc, info, hdr, err := minio.Core{Client: s.client}.GetObject(wctx, s.bucket, name, opts)
	if err != nil {
		wd.stop()
		err = timedOut(wctx, err)
		if er := minio.ToErrorResponse(err); er.Code == "InvalidRange" || er.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			return nil, fmt.Errorf("%s: %w: %w", op, io.ErrUnexpectedEOF, err)
		}
		return nil, translate(op, err)
	}
	// The answer must be exactly the requested bytes; a shorter one means
	// the range runs past the end of the object.
	var first, last, total int64
	if _, perr := fmt.Sscanf(hdr.Get("Content-Range"), "bytes %d-%d/%d", &first, &last, &total); perr != nil || first != off {
		rc.Close()
		wd.stop()
		return nil, fmt.Errorf("%s: unexpected Content-Range %q", op, hdr.Get("Content-Range"))
	}
	if info.Size != n || last-first+1 != n {
		rc.Close()
		wd.stop()
		return nil, fmt.Errorf("%s of %d bytes: %w", op, total, io.ErrUnexpectedEOF)
	}
	wd.disarm()
	return &body{rc: &watchedBody{rc, wd}, op: op, ctx: wctx}, nil
}

// Stat reports the size of the object (a HEAD request).
func (s *Store) Stat(ctx context.Context, key string) (int64, error) {
	name, err := s.object("stat", key)
	if err != nil {
		return 0, err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	info, err := s.client.StatObject(ctx, s.bucket, name, minio.StatObjectOptions{})
	if err != nil {
		return 0, translate(fmt.Sprintf("s3: stat %q", key), timedOut(ctx, err))
	}
	return info.Size, nil
}

// body translates the errors of a response body; io.EOF passes unchanged.
type body struct {
	rc  io.ReadCloser
	op  string
	ctx context.Context // the watched context of the request
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		err = translate(b.op+": read", timedOut(b.ctx, err))
	}
	return n, err
}

func (b *body) Close() error { return b.rc.Close() }
