// Package pixeltest holds the test support shared by the tests of package
// pixels and of its codec packages (jpeg, jpegls, jpeg2000, rle): finding
// pydicom's test files, reading the frames of a DICOM file with part10,
// running DCMTK and other reference tools, bringing native reference frames
// to the decoders' output convention (see package codec) and comparing
// samples, and the fuzz and benchmark scaffolding every decoder shares.
//
// Tools and test data follow one rule: when they are missing the test is
// skipped, or fails when the CI environment variable is set.
package pixeltest
