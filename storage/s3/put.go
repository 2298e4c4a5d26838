package s3

import (
	"context"
	"fmt"
	"io"

	"github.com/minipacs/minipacs/storage"

	"github.com/minio/minio-go/v7"
)

const (
	// partSize is the multipart part size, and the largest object sent
	// in a single PUT. minio-go buffers one part per multipart upload.
	partSize = 16 << 20
	// maxParts is the S3 limit on parts per upload.
	maxParts = 10000
)

// Put stores exactly size bytes from r under key; see storage.Store. The
// size is always handed to minio-go: with -1 it would buffer hundreds of
// MiB per upload. r must reach EOF after size bytes; Put reads one byte
// further to check that it does.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	name, err := s.object("put", key)
	if err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("s3: put %q: negative size %d", key, size)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3: put %q: %w", key, err)
	}
	// minio-go wraps the body in a reader that claims to seek and so
	// retries a failed upload with backoff; cancel it as soon as the
	// reader fails, since a retry cannot succeed.
	upCtx, cancel := s.putContext(ctx, size)
	defer cancel()
	er := &exactReader{ctx: ctx, r: r, remaining: size, onFail: cancel}
	if size == 0 {
		// Nothing will be read from an empty body; check the end now.
		if _, err := er.Read(nil); err != io.EOF {
			return fmt.Errorf("s3: put %q: %w", key, er.err)
		}
	}
	_, err = s.client.PutObject(upCtx, s.bucket, name, er, size, minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		PartSize:    partSizeFor(size),
	})
	if er.err != nil {
		// The reader failed (short, long, broken, canceled): report that
		// rather than what minio-go made of it. Nothing was committed.
		return fmt.Errorf("s3: put %q: %w", key, er.err)
	}
	if err != nil {
		return translate(fmt.Sprintf("s3: put %q", key), timedOut(upCtx, err))
	}
	if !er.done {
		return fmt.Errorf("s3: put %q: upload finished before the reader was exhausted", key)
	}
	return nil
}

// partSizeFor returns the part size for an object of size bytes: partSize,
// or more when that would need more than maxParts parts.
func partSizeFor(size int64) uint64 {
	ps := int64(partSize)
	if need := (size + maxParts - 1) / maxParts; need > ps {
		const mib = 1 << 20
		ps = (need + mib - 1) / mib * mib
	}
	return uint64(ps)
}

// exactReader passes exactly remaining bytes of r through and fails if r
// ends early, has more, fails, or ctx is done. The read that would deliver
// the last byte first checks that r is at EOF, and on excess returns an
// error with no data, so that no consumer (io.ReadFull drops an error that
// comes with the last bytes) can complete the upload.
type exactReader struct {
	ctx       context.Context
	r         io.Reader
	remaining int64
	onFail    func()
	done      bool  // all bytes delivered and r is at EOF
	err       error // first failure, sticky
}

// fail records the first failure and returns it.
func (e *exactReader) fail(err error) error {
	e.err = err
	if e.onFail != nil {
		e.onFail()
	}
	return err
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.done {
		return 0, io.EOF
	}
	if err := e.ctx.Err(); err != nil {
		return 0, e.fail(err)
	}
	if e.remaining == 0 {
		if err := storage.CheckEOF(e.r); err != nil {
			return 0, e.fail(err)
		}
		e.done = true
		return 0, io.EOF
	}
	if int64(len(p)) > e.remaining {
		p = p[:e.remaining]
	}
	n, err := e.r.Read(p)
	e.remaining -= int64(n)
	switch {
	case err == io.EOF && e.remaining > 0:
		return 0, e.fail(fmt.Errorf("reader ends %d bytes before the declared size: %w", e.remaining, io.ErrUnexpectedEOF))
	case err != nil && err != io.EOF:
		return 0, e.fail(fmt.Errorf("read: %w", err))
	}
	if e.remaining == 0 {
		if err := storage.CheckEOF(e.r); err != nil {
			return 0, e.fail(err)
		}
		e.done = true
	}
	return n, nil
}
