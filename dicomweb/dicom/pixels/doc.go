// Package pixels turns the stored pixel data of a DICOM image into
// pictures and into decoded native frames.
//
// The pipeline works on one frame at a time and never holds more than one
// decoded frame:
//
//	img, err := pixels.Describe(ctx, f.DataSet, tsUID, loader) // Image Pixel module, LUTs
//	raw := part10.WriteFrame(...)                              // one stored frame
//	dec, err := pixels.DecodeFrame(ctx, img, raw, buf)         // native samples
//	m, err := pixels.Render(ctx, img, dec, opts)               // 8-bit picture
//	err = pixels.Encode(w, m, "image/jpeg", quality)
//
// For transcoding to Explicit VR Little Endian, TranscodeFrame gives the
// frame as it must be stored, and Image.Decoded the attributes that change.
//
// # The decoded frame
//
// DecodeFrame returns samples in the convention of package codec, whatever
// the transfer syntax: interleaved (planar configuration 0), each sample in
// BitsAllocated/8 bytes little endian, moved down so that the stored bits
// start at bit 0 (HighBit = BitsStored-1) with the unused high bits cleared,
// or for signed data sign extended. Two normalisations go beyond codec's:
// BitsAllocated 1 is expanded to one byte per pixel holding 0 or 1, and
// native YBR_FULL_422 is upsampled to full-resolution Y Cb Cr. So a decoded
// frame is always Rows×Columns×Samples samples (Image.DecodedFrameSize).
// Its colours are as the codec leaves them: YBR_RCT and YBR_ICT come out of
// JPEG 2000 as RGB, YBR_FULL_422 as full-resolution YBR_FULL; Render
// converts the rest.
//
// # Rendering
//
// Render follows the grayscale pipeline of PS3.4 N.2: Modality LUT (Rescale
// Slope/Intercept, or the Modality LUT Sequence), VOI (the window asked for,
// else the data set's first window with its VOI LUT Function, else the first
// VOI LUT Sequence item, else the frame's minimum and maximum), then
// MONOCHROME1 inversion, to 8-bit grey. Colour images (RGB, YBR_FULL after
// the PS3.3 C.7.6.3.1.2 conversion, PALETTE COLOR through its LUTs) come out
// as 8-bit RGB; windows do not apply to them. The picture is then scaled to
// fit the viewport, keeping its aspect ratio (Catmull-Rom).
package pixels
