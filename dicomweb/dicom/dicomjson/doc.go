// Package dicomjson writes parsed DICOM data sets (package part10) in the
// DICOM JSON model of PS3.18 Annex F.
//
// The encoder appends bytes directly (no reflection) and streams to its
// writer in chunks of about 32 KiB. EncodeDataSet writes the object of a
// whole data set (WADO-RS metadata), EncodeElement the attribute object of
// one element (QIDO-RS answers), and Values gives the decoded text of an
// element for matching and indexing.
//
// Rules, with the choices made where PS3.18 leaves room:
//
//   - Keys are 8 uppercase hex digits in ascending order; "vr" is always
//     present. Group lengths (gggg,0000), Length to End (0008,0001), the
//     meta (0002), command (0000) and illegal odd groups (0001, 0003, 0005,
//     0007, FFFF), item tags (FFFE) and Data Set Trailing Padding
//     (FFFC,FFFC) are left out. A tag repeated in a malformed data set is
//     written once (its first occurrence). Private attributes are kept.
//   - Strings are decoded from the Specific Character Set in force (an
//     item's own (0008,0005) overrides its parent's) with package charset,
//     then split on '\' except for LT, ST, UT and UR. Each value loses its
//     trailing spaces and NULs, and its leading spaces except for LT, ST,
//     UT and UC (PS3.5 §6.2). An empty value among several is null; an
//     attribute whose only value is empty has no "Value" (F.2.5).
//   - PN values are objects with the non-empty component groups among
//     Alphabetic, Ideographic and Phonetic; a value whose groups are all
//     empty is null. Groups are otherwise written as found ("^^^^" stays).
//   - IS and DS are JSON numbers in a normalised text form (".5" → 0.5,
//     "+5" → 5, "007" → 7, "1E3" → 1e3), digits kept exactly. Values that
//     are not valid IS/DS, IS beyond ±(2^53-1) and DS beyond binary64 are
//     JSON strings of the trimmed text, as PS3.18 F.2.3 allows since
//     CP-1861.
//   - US, SS, UL, SL, FL, FD, SV, UV are decoded in the element's byte
//     order. SV and UV beyond ±(2^53-1) are strings (F.2.3). FL and FD NaN
//     and infinities, which JSON numbers cannot express, are the strings
//     "NaN", "Infinity" and "-Infinity" (our choice: the standard has no
//     form for them; a string keeps the information where null would
//     lose it). Bytes after the last whole value are ignored.
//   - AT values are "GGGGEEEE". Unknown VRs are written as UN.
//   - OB, OD, OF, OL, OV, OW and UN: values part10 did not keep (Bulk, or
//     encapsulated pixel data) are "BulkDataURI" from Options.BulkURI, and
//     have no value when BulkURI is nil. Pixel data (7FE0,0008/0009/0010)
//     is always a BulkDataURI when BulkURI is set. Other kept values are
//     "InlineBinary", base64 of the value in little endian (OW/OF/OL/OD/OV
//     byte-swapped from big endian files), unless Options.InlineMax is set
//     and exceeded. Since part10.Layout.Bulk lists exactly the Bulk values,
//     the default (InlineMax 0) hands out only BulkDataURIs that the bulk
//     data endpoint can serve.
//   - Sequences are arrays of item objects; an empty item is {}, a
//     sequence without items has no "Value".
//   - Strings are JSON-escaped (control characters, '"', '\', U+2028/2029)
//     and any invalid UTF-8 becomes U+FFFD.
package dicomjson
