package part10

// Transfer syntax UIDs that minipacs handles specially.
const (
	ImplicitVRLittleEndian                         = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian                         = "1.2.840.10008.1.2.1"
	EncapsulatedUncompressedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.98"
	DeflatedExplicitVRLittleEndian                 = "1.2.840.10008.1.2.1.99"
	ExplicitVRBigEndian                            = "1.2.840.10008.1.2.2"
)

// codec says how frames are delimited in encapsulated pixel data when the
// offset tables are empty.
type codec uint8

const (
	codecNative      codec = iota
	codecJPEG              // ISO 10918 and JPEG-LS: a frame starts with SOI FFD8
	codecJ2K               // JPEG 2000 / HTJ2K: SOC FF4F FF51, or a jp2 signature box
	codecOnePerFrame       // RLE, encapsulated uncompressed: one fragment per frame
	codecVideo             // MPEG-2/4, HEVC: one bit stream for all frames
)

type syntaxInfo struct {
	ts    TransferSyntax
	codec codec
}

func native(uid string, explicit, big, deflated bool) syntaxInfo {
	return syntaxInfo{ts: TransferSyntax{UID: uid, ExplicitVR: explicit, BigEndian: big, Deflated: deflated,
		MediaType: "application/octet-stream"}, codec: codecNative}
}

func encaps(uid, media string, lossy bool, c codec) syntaxInfo {
	return syntaxInfo{ts: TransferSyntax{UID: uid, ExplicitVR: true, Encapsulated: true, Lossy: lossy,
		MediaType: media}, codec: c}
}

// syntaxes is every transfer syntax Parse accepts. The media types are those
// of PS3.18 Table 8.7.3-5. Lossy marks syntaxes whose data may be lossy (the
// lossy-only ones, plus JPEG 2000/HTJ2K "lossy or lossless" and the video
// syntaxes), which WADO-RS may serve as stored.
var syntaxes = map[string]syntaxInfo{
	ImplicitVRLittleEndian:         native(ImplicitVRLittleEndian, false, false, false),
	ExplicitVRLittleEndian:         native(ExplicitVRLittleEndian, true, false, false),
	DeflatedExplicitVRLittleEndian: native(DeflatedExplicitVRLittleEndian, true, false, true),
	ExplicitVRBigEndian:            native(ExplicitVRBigEndian, true, true, false),
	EncapsulatedUncompressedExplicitVRLittleEndian: encaps(EncapsulatedUncompressedExplicitVRLittleEndian,
		"application/octet-stream", false, codecOnePerFrame),

	"1.2.840.10008.1.2.4.50":  encaps("1.2.840.10008.1.2.4.50", "image/jpeg", true, codecJPEG),  // baseline
	"1.2.840.10008.1.2.4.51":  encaps("1.2.840.10008.1.2.4.51", "image/jpeg", true, codecJPEG),  // extended
	"1.2.840.10008.1.2.4.57":  encaps("1.2.840.10008.1.2.4.57", "image/jpeg", false, codecJPEG), // lossless
	"1.2.840.10008.1.2.4.70":  encaps("1.2.840.10008.1.2.4.70", "image/jpeg", false, codecJPEG), // lossless SV1
	"1.2.840.10008.1.2.4.80":  encaps("1.2.840.10008.1.2.4.80", "image/jls", false, codecJPEG),  // JPEG-LS lossless
	"1.2.840.10008.1.2.4.81":  encaps("1.2.840.10008.1.2.4.81", "image/jls", true, codecJPEG),   // near-lossless
	"1.2.840.10008.1.2.4.90":  encaps("1.2.840.10008.1.2.4.90", "image/jp2", false, codecJ2K),   // lossless only
	"1.2.840.10008.1.2.4.91":  encaps("1.2.840.10008.1.2.4.91", "image/jp2", true, codecJ2K),
	"1.2.840.10008.1.2.4.92":  encaps("1.2.840.10008.1.2.4.92", "image/jpx", false, codecJ2K),
	"1.2.840.10008.1.2.4.93":  encaps("1.2.840.10008.1.2.4.93", "image/jpx", true, codecJ2K),
	"1.2.840.10008.1.2.4.201": encaps("1.2.840.10008.1.2.4.201", "image/jphc", false, codecJ2K), // HTJ2K lossless
	"1.2.840.10008.1.2.4.202": encaps("1.2.840.10008.1.2.4.202", "image/jphc", false, codecJ2K), // lossless RPCL
	"1.2.840.10008.1.2.4.203": encaps("1.2.840.10008.1.2.4.203", "image/jphc", true, codecJ2K),
	"1.2.840.10008.1.2.5":     encaps("1.2.840.10008.1.2.5", "image/dicom-rle", false, codecOnePerFrame),
	"1.2.840.10008.1.2.4.100": encaps("1.2.840.10008.1.2.4.100", "video/mpeg", true, codecVideo),
	"1.2.840.10008.1.2.4.101": encaps("1.2.840.10008.1.2.4.101", "video/mpeg", true, codecVideo),
	"1.2.840.10008.1.2.4.102": encaps("1.2.840.10008.1.2.4.102", "video/mp4", true, codecVideo),
	"1.2.840.10008.1.2.4.103": encaps("1.2.840.10008.1.2.4.103", "video/mp4", true, codecVideo),
	"1.2.840.10008.1.2.4.104": encaps("1.2.840.10008.1.2.4.104", "video/mp4", true, codecVideo),
	"1.2.840.10008.1.2.4.105": encaps("1.2.840.10008.1.2.4.105", "video/mp4", true, codecVideo),
	"1.2.840.10008.1.2.4.106": encaps("1.2.840.10008.1.2.4.106", "video/mp4", true, codecVideo),
	"1.2.840.10008.1.2.4.107": encaps("1.2.840.10008.1.2.4.107", "video/H265", true, codecVideo),
	"1.2.840.10008.1.2.4.108": encaps("1.2.840.10008.1.2.4.108", "video/H265", true, codecVideo),
}

// LookupTransferSyntax describes the transfer syntax uid (without padding),
// reporting false for syntaxes minipacs does not accept.
func LookupTransferSyntax(uid string) (TransferSyntax, bool) {
	s, ok := syntaxes[uid]
	return s.ts, ok
}
