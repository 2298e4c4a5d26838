// Package charset decodes DICOM string values to UTF-8 according to the
// Specific Character Set (0008,0005) of their data set (PS3.3 C.12.1.1.2,
// PS3.5 §6.1).
//
// A Decoder is built once per data set from the attribute's values with New
// and is then safe for concurrent use. It covers
//
//   - the default repertoire (ISO-IR 6, empty or absent (0008,0005));
//   - the single-byte sets without code extensions: ISO_IR 100, 101, 109,
//     110, 144, 127, 126, 138, 148, 203, 166 and ISO_IR 13 (JIS X 0201);
//   - the stand-alone multi-byte sets without code extensions: ISO_IR 192
//     (UTF-8), GB18030 and GBK;
//   - ISO 2022 code extensions ("ISO 2022 IR nnn" terms): escape sequences
//     designate G0 and G1 sets (ISO-IR 6, the single-byte sets above,
//     JIS X 0201 Romaji and Katakana, JIS X 0208, JIS X 0212, KS X 1001 and
//     GB2312). The initial designations of value 1 are restored at the start
//     of every value, at every value delimiter '\', at CR, LF, FF and TAB,
//     and for PN also at the '^' and '=' delimiters (PS3.5 §6.1.2.5.3).
//
// Decoding never fails: bytes that cannot be decoded become U+FFFD, and
// unknown Specific Character Set terms fall back to the default repertoire
// (with the high bytes read as UTF-8 when they form valid UTF-8, else as
// ISO 8859-1) and are reported by New's error and Decoder.Warning.
//
// Only the VRs that PS3.5 §6.1.2.3 subjects to Specific Character Set (SH,
// LO, UC, ST, LT, UT and PN) are decoded with it; every other VR is read in
// the default repertoire.
package charset
