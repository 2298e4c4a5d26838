package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"
)

func cmdBaselineSHA256(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("baseline-sha256", stderr)
	total := fs.Int("mb", 1000, "MB (10^6 bytes) to hash")
	chunk := fs.Int("chunk", 256<<10, "bytes per Write")
	name := fs.String("name", "baseline_sha256", "result name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *total < 1 || *chunk < 1 {
		return errors.New("baseline-sha256: -mb and -chunk must be at least 1")
	}
	r, err := sha256Baseline(ctx, int64(*total)*1e6, *chunk, *name)
	if err != nil {
		return fmt.Errorf("baseline-sha256: %w", err)
	}
	r.print(stdout, stderr)
	return nil
}

// sha256Baseline hashes total bytes in chunk-sized writes on one goroutine:
// the ceiling of a server that hashes every stored object once, per core.
func sha256Baseline(ctx context.Context, total int64, chunk int, name string) (*result, error) {
	buf := make([]byte, chunk)
	for i := range buf {
		buf[i] = byte(i*13 + i>>11)
	}
	h := sha256.New()
	start := time.Now()
	var done int64
	for done < total {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(int64(chunk), total-done)
		h.Write(buf[:n])
		done += n
	}
	h.Sum(nil)
	elapsed := time.Since(start)
	r := newResult(name)
	r.float("mb", mb(done))
	r.float("seconds", elapsed.Seconds())
	r.float("mb_per_s", mb(done)/elapsed.Seconds())
	return r, nil
}
