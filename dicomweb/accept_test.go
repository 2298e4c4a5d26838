package dicomweb

import (
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

var (
	tsExplicit = part10.TransferSyntax{UID: "1.2.840.10008.1.2.1", ExplicitVR: true, MediaType: "application/octet-stream"}
	tsImplicit = part10.TransferSyntax{UID: "1.2.840.10008.1.2", MediaType: "application/octet-stream"}
	tsBig      = part10.TransferSyntax{UID: "1.2.840.10008.1.2.2", ExplicitVR: true, BigEndian: true, MediaType: "application/octet-stream"}
	tsDeflated = part10.TransferSyntax{UID: "1.2.840.10008.1.2.1.99", ExplicitVR: true, Deflated: true, MediaType: "application/octet-stream"}
	tsEncapsLE = part10.TransferSyntax{UID: "1.2.840.10008.1.2.1.98", ExplicitVR: true, Encapsulated: true, MediaType: "application/octet-stream"}
	tsJPEGLL   = part10.TransferSyntax{UID: "1.2.840.10008.1.2.4.70", ExplicitVR: true, Encapsulated: true, MediaType: "image/jpeg"}
	tsJPEGBase = part10.TransferSyntax{UID: "1.2.840.10008.1.2.4.50", ExplicitVR: true, Encapsulated: true, Lossy: true, MediaType: "image/jpeg"}
	tsJ2K      = part10.TransferSyntax{UID: "1.2.840.10008.1.2.4.90", ExplicitVR: true, Encapsulated: true, MediaType: "image/jp2"}
)

func TestParseAccept(t *testing.T) {
	got := parseAccept(`multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50;q=0.5, multipart/related; type="application/dicom, odd"; transfer-syntax=*, text/html;q=0`)
	if len(got) != 2 {
		t.Fatalf("got %d ranges: %+v", len(got), got)
	}
	if got[0].params["transfer-syntax"] != "*" || got[0].params["type"] != "application/dicom, odd" {
		t.Errorf("first range: %+v", got[0])
	}
	if got[1].q != 0.5 {
		t.Errorf("second range q: %v", got[1].q)
	}
}

func TestRetrieveNegotiation(t *testing.T) {
	tests := []struct {
		name   string
		accept string
		single bool
		stored part10.TransferSyntax
		want   string // "" = 406
	}{
		{"no accept, explicit", "", false, tsExplicit, tsExplicit.UID},
		{"no accept, implicit is re-encoded", "", false, tsImplicit, tsExplicit.UID},
		{"no accept, big endian is re-encoded", "", false, tsBig, tsExplicit.UID},
		{"no accept, deflated is re-encoded", "", false, tsDeflated, tsExplicit.UID},
		{"explicit LE named, implicit is re-encoded", `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1`, false, tsImplicit, tsExplicit.UID},
		{"explicit LE named, stored so", `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1`, false, tsExplicit, tsExplicit.UID},
		{"explicit LE named, lossy is not decoded", `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1`, false, tsJPEGBase, ""},
		{"explicit LE named, encapsulated uncompressed", `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1`, false, tsEncapsLE, ""},
		{"implicit named, big endian is not converted", `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2`, false, tsBig, ""},
		{"implicit named, stored so", `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2`, false, tsImplicit, tsImplicit.UID},
		{"any syntax keeps big endian", `multipart/related; type="application/dicom"; transfer-syntax=*`, false, tsBig, tsBig.UID},
		{"bare application/dicom, no syntax, implicit", `application/dicom`, true, tsImplicit, tsExplicit.UID},
		{"unknown stored syntax", "", false, part10.TransferSyntax{}, ""},
		{"no accept, lossy goes as stored", "", false, tsJPEGBase, tsJPEGBase.UID},
		{"no accept, lossless compressed", "", false, tsJPEGLL, ""},
		{"any syntax quoted", `multipart/related; type="application/dicom"; transfer-syntax=*`, false, tsJ2K, tsJ2K.UID},
		{"any syntax unquoted type", `multipart/related; type=application/dicom; transfer-syntax=*`, false, tsImplicit, tsImplicit.UID},
		{"exact stored", `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.70`, false, tsJPEGLL, tsJPEGLL.UID},
		{"other syntax", `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.90`, false, tsJPEGLL, ""},
		{"second choice", `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.90, multipart/related; type="application/dicom"; transfer-syntax=*;q=0.1`, false, tsJPEGLL, tsJPEGLL.UID},
		{"wildcard */*", `*/*`, false, tsExplicit, tsExplicit.UID},
		{"xml only", `multipart/related; type="application/dicom+xml"`, false, tsExplicit, ""},
		{"bare application/dicom on instance", `application/dicom; transfer-syntax=*`, true, tsBig, tsBig.UID},
		{"bare application/dicom on study", `application/dicom; transfer-syntax=*`, false, tsBig, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			for _, ch := range acceptDICOM(tt.accept, tt.single) {
				if uid, ok := pickSyntax(ch, tt.stored, false); ok {
					got = uid
					break
				}
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFrameNegotiation(t *testing.T) {
	tests := []struct {
		name, accept string
		stored       part10.TransferSyntax
		media, ts    string // "" = 406
	}{
		{"OHIF unquoted, native", `multipart/related; type=application/octet-stream; transfer-syntax=*`, tsExplicit, "application/octet-stream", tsExplicit.UID},
		{"OHIF, big endian is swapped to LE", `multipart/related; type=application/octet-stream; transfer-syntax=*`, tsBig, "application/octet-stream", tsExplicit.UID},
		{"OHIF, compressed as stored", `multipart/related; type=application/octet-stream; transfer-syntax=*`, tsJ2K, "image/jp2", tsJ2K.UID},
		{"quoted, no syntax, native", `multipart/related; type="application/octet-stream"`, tsImplicit, "application/octet-stream", tsExplicit.UID},
		{"no syntax, lossless compressed needs decoding", `multipart/related; type="application/octet-stream"`, tsJPEGLL, "", ""},
		{"no syntax, lossy as stored", `multipart/related; type="application/octet-stream"`, tsJPEGBase, "image/jpeg", tsJPEGBase.UID},
		{"image/jpeg default syntax is baseline", `multipart/related; type="image/jpeg"`, tsJPEGBase, "image/jpeg", tsJPEGBase.UID},
		{"image/jpeg default is not lossless", `multipart/related; type="image/jpeg"`, tsJPEGLL, "", ""},
		{"image/jpeg with the stored syntax", `multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.70`, tsJPEGLL, "image/jpeg", tsJPEGLL.UID},
		{"explicit BE asked", `multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.2`, tsBig, "", ""},
		{"no accept native", ``, tsExplicit, "application/octet-stream", tsExplicit.UID},
		{"jpeg asked of native", `multipart/related; type="image/jpeg"`, tsExplicit, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			media, ts, _, err := negotiateFrames(tt.accept, tt.stored, false)
			if tt.media == "" {
				if err == nil {
					t.Fatalf("got %s %s, want 406", media, ts)
				}
				if st, _ := statusOf(err); st != 406 {
					t.Fatalf("status %d, want 406", st)
				}
				return
			}
			if err != nil || media != tt.media || ts != tt.ts {
				t.Errorf("got %q %q %v, want %q %q", media, ts, err, tt.media, tt.ts)
			}
		})
	}
}

func TestParseFrameList(t *testing.T) {
	for in, ok := range map[string]bool{"1": true, "1,3,5": true, "0": false, "-1": false, "a": false, "1,,2": false, "": false} {
		_, err := parseFrameList(in)
		if (err == nil) != ok {
			t.Errorf("%q: err %v", in, err)
		}
	}
}
