package retrieve

import (
	"context"
	"fmt"
	"io"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/index"
)

// Frames is the pixel data of a stored instance, for sending its frames
// as stored: native frames little endian (big endian ones swapped,
// deflated ones inflated, bit-packed ones shifted to their first bit),
// encapsulated ones as their compressed bytes. Decoded frames come from
// Image.Frame.
type Frames struct {
	ref    *index.Ref
	lay    *part10.Layout
	open   part10.OpenFunc
	direct bool
}

// Frames opens the frames of ref from the layout the index keeps, without
// reading the object. An instance without frames is ErrNoFrames.
func (s *Service) Frames(ctx context.Context, ref *index.Ref) (*Frames, error) {
	lay, err := layout(ctx, ref)
	if err != nil {
		return nil, err
	}
	if len(lay.Frames) == 0 {
		return nil, ErrNoFrames
	}
	return &Frames{ref: ref, lay: lay, open: s.opener(ref), direct: direct(lay)}, nil
}

// Count is the number of frames.
func (f *Frames) Count() int { return len(f.lay.Frames) }

// Direct reports whether every frame is a plain copy of stored byte
// ranges (no inflating, byte swapping or bit shifting): Frame then opens
// the object before it returns, so a missing object is an error of Frame,
// never of WriteTo, and a writer that implements io.ReaderFrom gets the
// stored files (sendfile). Otherwise the object is first read by WriteTo.
// Either way a frame's Size is exact.
func (f *Frames) Direct() bool { return f.direct }

// FrameSize is the number of bytes of frame n (1-based) as Frame gives
// it, without opening the object; -1 beyond Count.
func (f *Frames) FrameSize(n int) int64 {
	if n < 1 || n > f.Count() {
		return -1
	}
	return part10.FrameLength(f.lay, f.lay.Frames[n-1])
}

// Frame returns stored frame n (1-based); ErrNoSuchFrame beyond Count.
func (f *Frames) Frame(ctx context.Context, n int) (*Body, error) {
	if n < 1 || n > f.Count() {
		return nil, ErrNoSuchFrame
	}
	fr := f.lay.Frames[n-1]
	if f.direct {
		return rangesBody(ctx, f.open, fr.Ranges)
	}
	lay, open := f.lay, f.open
	return &Body{
		Size: part10.FrameLength(lay, fr),
		write: func(ctx context.Context, w io.Writer) error {
			return part10.WriteFrame(ctx, w, open, lay, fr)
		},
	}, nil
}

// direct reports whether every frame is a plain copy of its stored
// ranges.
func direct(lay *part10.Layout) bool {
	if lay.Deflated || lay.Swap > 1 {
		return false
	}
	for _, f := range lay.Frames {
		if f.Bits > 0 {
			return false
		}
		for _, r := range f.Ranges {
			if r.Offset < 0 || r.Length < 0 {
				return false
			}
		}
	}
	return true
}

// Bulk returns the bulk value of ref at path (as in BulkDataURIs, e.g.
// "7FE00010" or "00540016/0/00181072"), little endian, read from the
// object only by WriteTo. A path the instance does not have is
// ErrNoBulkData. Encapsulated pixel data is better sent frame by frame
// (Frames): its bulk value is the concatenation of its fragments.
func (s *Service) Bulk(ctx context.Context, ref *index.Ref, path string) (*Body, error) {
	lay, err := layout(ctx, ref)
	if err != nil {
		return nil, err
	}
	for i := range lay.Bulk {
		if bv := lay.Bulk[i]; bv.Path == path {
			open := s.opener(ref)
			return &Body{
				Size: part10.BulkLength(bv),
				write: func(ctx context.Context, w io.Writer) error {
					return part10.WriteBulk(ctx, w, open, lay, bv)
				},
			}, nil
		}
	}
	return nil, fmt.Errorf("bulk data: %w", ErrNoBulkData)
}
