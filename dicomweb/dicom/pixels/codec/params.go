package codec

import "fmt"

// CheckGeometry checks what every decoder needs of Params' geometry: Rows
// and Columns in 1..65535 (ErrMismatch otherwise) and Samples in 1..4
// (ErrUnsupported otherwise). The error does not name the decoder: callers
// wrap it.
func (p Params) CheckGeometry() error {
	switch {
	case p.Rows <= 0 || p.Columns <= 0 || p.Rows > 65535 || p.Columns > 65535:
		return fmt.Errorf("%d×%d image: %w", p.Columns, p.Rows, ErrMismatch)
	case p.Samples < 1 || p.Samples > 4:
		return fmt.Errorf("%d samples per pixel: %w", p.Samples, ErrUnsupported)
	}
	return nil
}

// Check checks Params for a decoder that can produce every sample width of
// the output convention: CheckGeometry, then BitsAllocated 8, 16 or 32
// (ErrUnsupported otherwise) and BitsStored in 1..BitsAllocated
// (ErrMismatch otherwise). Decoders with narrower limits call CheckGeometry
// and check the bits themselves. The error does not name the decoder:
// callers wrap it.
func (p Params) Check() error {
	if err := p.CheckGeometry(); err != nil {
		return err
	}
	switch {
	case p.BitsAllocated != 8 && p.BitsAllocated != 16 && p.BitsAllocated != 32:
		return fmt.Errorf("%d bits allocated: %w", p.BitsAllocated, ErrUnsupported)
	case p.BitsStored < 1 || p.BitsStored > p.BitsAllocated:
		return fmt.Errorf("%d bits stored of %d: %w", p.BitsStored, p.BitsAllocated, ErrMismatch)
	}
	return nil
}
