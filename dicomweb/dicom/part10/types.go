// Package part10 reads DICOM Part-10 files (PS3.10) defensively.
//
// It is the only code in minipacs that interprets uploaded bytes. Parse walks
// the file once, with hard bounds on every length, the nesting depth and the
// element count, and never trusts a declared length beyond the bytes present.
// The result keeps small values in memory and only the position of large
// ones (pixel data, big OB/OW/UN), so a 2 GB object costs a few kilobytes.
//
// Parse also works out where each frame of the pixel data lives in the file
// (Layout), so frames and bulk data can later be served by ranged reads
// without parsing the object again.
//
// Invariants of a successful Parse:
//   - the object has the 128-byte preamble and "DICM"; headerless data
//     sets are rejected (ErrNoPart10Header);
//   - every element, item and fragment lies inside the object (for
//     Deflated objects: inside the inflated stream), nesting is at most
//     Limits.MaxDepth, and there are at most Limits.MaxElements of them;
//   - native pixel data holds at least Rows×Columns×SamplesPerPixel×
//     BitsAllocated×NumberOfFrames bits, and every offset table entry
//     points at a fragment, so every Frame lies inside the object;
//   - values are kept in the file's byte order (Element.BigEndian);
//     WriteFrame and WriteBulk swap to little endian on the way out.
//
// suyashkumar/dicom is used only for its data dictionary (DictionaryVR,
// Keyword, TagForKeyword); it never sees uploaded bytes.
package part10

import "fmt"

// Tag is a DICOM attribute tag, group<<16 | element.
type Tag uint32

// Group returns the tag's group number.
func (t Tag) Group() uint16 { return uint16(t >> 16) }

// Element returns the tag's element number.
func (t Tag) Element() uint16 { return uint16(t) }

// String formats the tag as 8 uppercase hex digits, as in DICOM JSON.
func (t Tag) String() string { return fmt.Sprintf("%08X", uint32(t)) }

// UndefinedLength is the value length 0xFFFFFFFF.
const UndefinedLength = 0xFFFFFFFF

// Well-known tags used across minipacs.
const (
	TagTransferSyntaxUID         Tag = 0x00020010
	TagSpecificCharacterSet      Tag = 0x00080005
	TagSOPClassUID               Tag = 0x00080016
	TagSOPInstanceUID            Tag = 0x00080018
	TagStudyInstanceUID          Tag = 0x0020000D
	TagSeriesInstanceUID         Tag = 0x0020000E
	TagPatientID                 Tag = 0x00100020
	TagIssuerOfPatientID         Tag = 0x00100021
	TagRows                      Tag = 0x00280010
	TagColumns                   Tag = 0x00280011
	TagNumberOfFrames            Tag = 0x00280008
	TagBitsAllocated             Tag = 0x00280100
	TagSamplesPerPixel           Tag = 0x00280002
	TagPhotometricInterpretation Tag = 0x00280004
	TagPixelRepresentation       Tag = 0x00280103
	TagPixelData                 Tag = 0x7FE00010
	TagFloatPixelData            Tag = 0x7FE00008
	TagDoubleFloatPixelData      Tag = 0x7FE00009
	TagExtendedOffsetTable       Tag = 0x7FE00001
	TagExtendedOffsetTableLen    Tag = 0x7FE00002
	TagItem                      Tag = 0xFFFEE000
	TagItemDelimitation          Tag = 0xFFFEE00D
	TagSequenceDelimitation      Tag = 0xFFFEE0DD
)

// Element is one data element as found in the file.
type Element struct {
	Tag Tag
	// VR is the two-letter value representation: the explicit VR from the
	// file, or for implicit VR files the dictionary VR ("UN" when unknown;
	// the first choice for multi-VR tags, resolved by PixelRepresentation
	// and BitsAllocated where PS3.5 says so).
	VR string
	// Length is the value length as declared (UndefinedLength for
	// undefined-length sequences and encapsulated pixel data).
	Length uint32
	// Offset is the byte offset of the value's first byte in the object
	// (for Deflated transfer syntaxes: in the inflated data set stream,
	// counted from the object's start as if it were not deflated:
	// Layout.DeflatedAt plus the position in the inflated stream).
	Offset int64
	// Value holds the raw value bytes, in the file's byte order, for values
	// of at most Limits.InlineMax bytes. It is nil for bulk values, for
	// sequences and for encapsulated pixel data.
	Value []byte
	// Bulk is true when the value was too large to keep (Value is nil and
	// Offset/Length locate it).
	Bulk bool
	// Items are the items of a sequence (VR "SQ", or UN/implicit elements
	// with undefined length parsed as sequences).
	Items []*DataSet
	// Fragments are the items of encapsulated pixel data, the Basic Offset
	// Table first (Fragments[0], possibly empty).
	Fragments []Fragment
	// BigEndian is the byte order of Value: the transfer syntax's, except
	// inside UN sequences of undefined length, which are always Implicit
	// VR Little Endian (PS3.5 6.2.2).
	BigEndian bool
}

// Fragment locates one item of encapsulated pixel data (value bytes only).
type Fragment struct {
	Offset int64
	Length int64
}

// DataSet is an ordered list of elements (a file's data set, or an item).
type DataSet struct {
	Elements []*Element
}

// Find returns the element with tag t, or nil.
func (d *DataSet) Find(t Tag) *Element {
	if d == nil {
		return nil
	}
	// Elements are in ascending tag order in valid files; a linear scan
	// keeps this correct for the invalid ones too.
	for _, e := range d.Elements {
		if e.Tag == t {
			return e
		}
	}
	return nil
}

// TransferSyntax describes how a data set is encoded.
type TransferSyntax struct {
	UID          string
	ExplicitVR   bool
	BigEndian    bool
	Deflated     bool
	Encapsulated bool
	// Lossy is true for syntaxes that are lossy-only (JPEG baseline, ...).
	Lossy bool
	// MediaType is the bulk media type of a frame in this syntax
	// ("application/octet-stream" for native, "image/jpeg", "image/jls",
	// "image/jp2", "image/dicom-rle", "image/jphc", "video/mpeg", ...).
	MediaType string
}

// File is the result of parsing a Part-10 object.
type File struct {
	// Meta is the file meta information group (0002,xxxx).
	Meta *DataSet
	// TransferSyntax of the data set (from (0002,0010)).
	TransferSyntax TransferSyntax
	// DataSetOffset is the offset of the first byte after the meta group.
	DataSetOffset int64
	// DataSet is the main data set.
	DataSet *DataSet
	// Size is the object's size in bytes.
	Size int64
	// CharacterSet is the value of SpecificCharacterSet (0008,0005), split
	// on backslashes, as it applies to the top level data set.
	CharacterSet []string
	// Layout locates frames and bulk values for ranged reads.
	Layout Layout
	// Warnings lists tolerated defects, by tag path only (no values):
	// repeated elements (the first is kept, later ones are dropped from
	// the DataSet; STOW-RS may report 0xB006) and elements out of order.
	Warnings []string
}

// Layout records where the pixel data's frames and the bulk values live in
// the stored object, so that they can be served later without re-parsing.
// It is serialised with MarshalBinary/UnmarshalBinary and kept in the index.
type Layout struct {
	// Deflated is true when the object's data set is deflated: ranges are
	// then offsets into the inflated stream plus DeflatedAt (the offset of
	// the deflated data, i.e. File.DataSetOffset), like Element.Offset.
	Deflated   bool
	DeflatedAt int64
	// Swap is the word size (2, 4 or 8) by which native big endian pixel
	// data must be byte swapped to little endian on the way out; 0: none.
	// 2-byte words are taken to start at even offsets.
	Swap int // 0, 2, 4 or 8
	// Frames in order; empty when there is no pixel data.
	Frames []Frame
	// Bulk values by their path (see BulkPath).
	Bulk []BulkValue
}

// Frame is one frame of pixel data: the concatenation of Ranges, then for
// bit-packed data (BitsAllocated=1) shifted left by BitOffset bits and cut
// to Bits bits (Bits is 0 for byte-aligned frames). "Left" is in stream
// order: bits are packed least significant bit first (PS3.5 8.1.1), so the
// frame's first pixel is bit BitOffset (0-7) of the first byte and comes
// out as bit 0; numerically each output byte is
// in[i]>>BitOffset | in[i+1]<<(8-BitOffset). See WriteFrame.
type Frame struct {
	Ranges    []Range
	BitOffset uint8
	Bits      int64
}

// Range is a span of bytes in the object.
type Range struct {
	Offset int64
	Length int64
}

// BulkValue locates a bulk value (one the DICOM JSON gives as BulkDataURI).
type BulkValue struct {
	// Path is the attribute path as used in BulkDataURIs: tags as 8 hex
	// digits separated by '/', with item indexes (0-based) between them,
	// e.g. "7FE00010" or "00540016/0/00181072".
	Path string
	VR   string
	// Ranges is one range for native values; for encapsulated pixel data
	// it is every fragment (offset table excluded).
	Ranges []Range
	// Swap is the word size to swap for big endian values (0: none).
	Swap int
}
