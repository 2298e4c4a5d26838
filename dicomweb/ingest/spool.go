package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// ErrTooLarge is returned by Spool when a part exceeds the size cap.
var ErrTooLarge = errors.New("ingest: part exceeds the size limit")

// Part is one uploaded object spooled to a temporary file.
type Part struct {
	f      *os.File
	path   string
	Size   int64
	SHA256 [32]byte
	// ContentType is the part's declared media type (informational).
	ContentType string
}

// Close removes the spool file. It is safe to call more than once.
func (p *Part) Close() error {
	if p == nil || p.f == nil {
		return nil
	}
	p.f.Close()
	p.f = nil
	err := os.Remove(p.path)
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return err
}

var spoolSeq atomic.Uint64

// Spool copies r to a new temporary file, zeroing the first 128 bytes (the
// Part-10 preamble: PE/DICOM polyglots stay inert) and hashing the result.
// At most max bytes are accepted: a longer part fails with ErrTooLarge as
// soon as the cap is passed, leaving the rest of r unread.
func (g *Ingester) Spool(ctx context.Context, r io.Reader, max int64) (*Part, error) {
	name := fmt.Sprintf("%d-%d.part", os.Getpid(), spoolSeq.Add(1))
	path := filepath.Join(g.spoolDir, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ingest: spool: %w", err)
	}
	p := &Part{f: f, path: path}
	h := sha256.New()
	w := io.MultiWriter(f, h)
	buf := bufPool.Get().(*[]byte)
	defer bufPool.Put(buf)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			p.Close()
			return nil, err
		}
		// Fill the buffer before writing: parts arrive in small reads,
		// and one write and one hash update per 256 KiB are much cheaper.
		m, rerr := io.ReadFull(r, *buf)
		if rerr == io.ErrUnexpectedEOF {
			rerr = io.EOF
		}
		if m > 0 {
			chunk := (*buf)[:m]
			if n < 128 {
				z := min(int64(m), 128-n)
				clear(chunk[:z])
			}
			n += int64(m)
			if n > max {
				p.Close()
				return nil, ErrTooLarge
			}
			if _, err := w.Write(chunk); err != nil {
				p.Close()
				return nil, fmt.Errorf("ingest: spool write: %w", err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			p.Close()
			return nil, fmt.Errorf("ingest: spool read: %w", rerr)
		}
	}
	p.Size = n
	copy(p.SHA256[:], h.Sum(nil))
	g.CrashPoint(CrashAfterSpool)
	return p, nil
}

// ObjectKey is the storage key of an object with the given SHA-256.
func ObjectKey(sum [32]byte) string {
	x := hex.EncodeToString(sum[:])
	return "dicom/" + x[:2] + "/" + x[2:4] + "/" + x + ".dcm"
}

// keySum parses an ObjectKey back into its hash.
func keySum(key string) (string, bool) {
	base := filepath.Base(key)
	x, ok := strings.CutSuffix(base, ".dcm")
	if !ok || len(x) != 64 || !strings.HasPrefix(key, "dicom/") || ObjectKeyHex(x) != key {
		return "", false
	}
	return x, true
}

// ObjectKeyHex is ObjectKey for a hex-encoded hash.
func ObjectKeyHex(x string) string {
	if len(x) < 4 {
		return ""
	}
	return "dicom/" + x[:2] + "/" + x[2:4] + "/" + x + ".dcm"
}

// bufPool holds the copy buffers of Spool.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}
