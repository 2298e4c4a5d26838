// Package dicom is the room of the DICOM format itself: what a Part-10
// object is, how its bytes read and write, how its values decode. Nothing
// here opens a socket, a file by name or an index: every function takes
// readers, writers and byte slices, so that each front door (DICOMweb,
// DIMSE, import) and each archive service can use it.
//
//   - part10: the defensive Part-10 parser (bounded, never trusting a
//     declared length), transfer syntaxes, the tag dictionary, UIDs
//     (ValidUID, TrimUID), frame and bulk data layout, re-encoding to
//     Explicit VR Little Endian;
//   - charset: SpecificCharacterSet decoding (ISO 2022 included);
//   - dicomjson: the DICOM JSON model (PS3.18 Annex F);
//   - jsonstr: the one JSON string writer of the project (a leaf: the
//     index and the front doors use it without the rest of the room);
//   - pixels: decode dispatch, LUTs, VOI, colour, resampling and image
//     encoding; pixels/codec and its codecs (jpeg, rle, jpegls, jpeg2000).
//
// Packages of this room may import each other, the standard library,
// dicomweb/kind and third-party codecs; never dicomweb/archive,
// dicomweb/security, the front doors, index or storage (TestRooms in
// package dicomweb checks it).
package dicom
