package part10

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

// TestObjectReader: the ReaderAt that Parse reads stored objects through
// returns the right bytes for sequential, skipping and backward reads and
// reopens the object only for long jumps and backward reads.
func TestObjectReader(t *testing.T) {
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 31 >> 3)
	}
	opens := 0
	open := func(_ context.Context, off, n int64) (io.ReadCloser, error) {
		opens++
		if off < 0 || n < 0 || off+n > int64(len(data)) {
			return nil, io.ErrUnexpectedEOF
		}
		return io.NopCloser(bytes.NewReader(data[off : off+n])), nil
	}
	o := NewObjectReader(context.Background(), open, int64(len(data)))
	defer o.Close()
	steps := []struct {
		off, n    int64
		wantOpens int
		wantErr   error
	}{
		{128, 4, 1, nil},
		{132, 16 << 10, 1, nil},           // sequential
		{132 + 16<<10 + 100, 300, 1, nil}, // a short gap is read through
		{600 << 10, 1000, 2, nil},         // a long jump reopens
		{1000, 10, 3, nil},                // so does a backward read
		{int64(len(data)) - 10, 20, 4, io.EOF},
		{int64(len(data)), 1, 4, io.EOF},
	}
	for _, s := range steps {
		buf := make([]byte, s.n)
		n, err := o.ReadAt(buf, s.off)
		if !errors.Is(err, s.wantErr) && !(s.wantErr == nil && err == nil) {
			t.Fatalf("ReadAt(%d, %d): err %v, want %v", s.n, s.off, err, s.wantErr)
		}
		want := data[min(s.off, int64(len(data))):min(s.off+s.n, int64(len(data)))]
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("ReadAt(%d, %d): wrong bytes", s.n, s.off)
		}
		if opens != s.wantOpens {
			t.Fatalf("ReadAt(%d, %d): %d opens, want %d", s.n, s.off, opens, s.wantOpens)
		}
	}
	boom := errors.New("boom")
	bad := NewObjectReader(context.Background(), func(context.Context, int64, int64) (io.ReadCloser, error) { return nil, boom }, 10)
	if _, err := bad.ReadAt(make([]byte, 4), 0); !errors.Is(err, boom) || !errors.Is(bad.Err(), boom) {
		t.Errorf("open error: %v (Err %v)", err, bad.Err())
	}
}
