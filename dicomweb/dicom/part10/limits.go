package part10

// Limits bound the resources one Parse may use. A zero field takes its
// value from DefaultLimits.
type Limits struct {
	// MaxDepth is the deepest sequence nesting accepted (top level is 0).
	MaxDepth int
	// MaxElements is the most data elements, items and fragments accepted.
	MaxElements int
	// InlineMax: OB, OD, OF, OL, OV, OW and UN values longer than this are
	// Bulk. Strings, AT and numbers (up to 64 KiB, see MaxNumericBytes) are
	// always kept in memory since the index and the JSON encoder need them;
	// pixel data (7FE0,0008/0009/0010) is always Bulk.
	InlineMax int
	// MaxNumericBytes: US/SS/UL/SL/FL/FD/SV/UV values longer than this are
	// Bulk (default 64 KiB, and never less than InlineMax).
	MaxNumericBytes int
	// MaxTextBytes: string values longer than this are Bulk (default 8 MiB),
	// so that a declared huge text never turns into a huge allocation.
	MaxTextBytes int
	// MaxInlineBytes bounds the total of all values kept in memory
	// (default 256 MiB); beyond it Parse fails with ErrMalformed.
	MaxInlineBytes int64
	// MaxFrames is the largest NumberOfFrames accepted.
	MaxFrames int
	// MaxPixelBytes is the largest pixel data value (native or the sum of
	// the fragments) accepted.
	MaxPixelBytes int64
	// MaxInflatedBytes bounds the inflated data set of a Deflated transfer
	// syntax object (default 4 GiB).
	MaxInflatedBytes int64
}

// DefaultLimits returns the limits used for uploads.
func DefaultLimits() Limits {
	return Limits{
		MaxDepth:         16,
		MaxElements:      1_000_000,
		InlineMax:        4096,
		MaxNumericBytes:  64 << 10,
		MaxTextBytes:     8 << 20,
		MaxInlineBytes:   256 << 20,
		MaxFrames:        100_000,
		MaxPixelBytes:    4 << 30,
		MaxInflatedBytes: 4 << 30,
	}
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxElements <= 0 {
		l.MaxElements = d.MaxElements
	}
	if l.InlineMax <= 0 {
		l.InlineMax = d.InlineMax
	}
	if l.MaxNumericBytes <= 0 {
		l.MaxNumericBytes = d.MaxNumericBytes
	}
	if l.MaxNumericBytes < l.InlineMax {
		l.MaxNumericBytes = l.InlineMax
	}
	if l.MaxTextBytes <= 0 {
		l.MaxTextBytes = d.MaxTextBytes
	}
	if l.MaxInlineBytes <= 0 {
		l.MaxInlineBytes = d.MaxInlineBytes
	}
	if l.MaxFrames <= 0 {
		l.MaxFrames = d.MaxFrames
	}
	if l.MaxPixelBytes <= 0 {
		l.MaxPixelBytes = d.MaxPixelBytes
	}
	if l.MaxInflatedBytes <= 0 {
		l.MaxInflatedBytes = d.MaxInflatedBytes
	}
	return l
}
