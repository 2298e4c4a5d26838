package dicomweb_test

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/dicomweb"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels"
)

// uidsOf reads the study, series and instance UIDs of a Part-10 file.
func uidsOf(t *testing.T, data []byte) (string, string, string) {
	t.Helper()
	f, err := part10.Parse(context.Background(), bytes.NewReader(data), int64(len(data)), part10.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ds := f.DataSet
	return ds.String(part10.TagStudyInstanceUID), ds.String(part10.TagSeriesInstanceUID), ds.String(part10.TagSOPInstanceUID)
}

func nativeFrames(t *testing.T, data []byte) [][]byte {
	t.Helper()
	ctx := context.Background()
	f, err := part10.Parse(ctx, bytes.NewReader(data), int64(len(data)), part10.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	open := func(_ context.Context, off, n int64) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data[off : off+n])), nil
	}
	for _, fr := range f.Layout.Frames {
		var b bytes.Buffer
		if err := part10.WriteFrame(ctx, &b, open, &f.Layout, fr); err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	return out
}

func TestRendered(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	names := []string{"test_files/CT_small.dcm", "test_files/MR_small_RLE.dcm", "test_files/SC_rgb_jpeg_dcmtk.dcm", "test_files/rtplan.dcm", "test_files/SC_rgb_rle_2frame.dcm"}
	var parts [][]byte
	for _, n := range names {
		parts = append(parts, file(t, n))
	}
	body, ct := multipartBody(t, parts...)
	if code, _ := f.stow(t, "/studies", body, ct); code != 200 {
		t.Fatalf("stow: %d", code)
	}
	inst := func(name string) string {
		st, se, in := uidsOf(t, file(t, name))
		return f.base + "/studies/" + st + "/series/" + se + "/instances/" + in
	}
	ct0 := inst("test_files/CT_small.dcm")
	decode := func(t *testing.T, url string, hdr ...string) image.Image {
		t.Helper()
		resp, b := get(t, url, hdr...)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", url, resp.StatusCode, b)
		}
		m, format, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: not an image: %v", url, err)
		}
		if want := strings.TrimPrefix(resp.Header.Get("Content-Type"), "image/"); want != format {
			t.Errorf("Content-Type %s, decoded as %s", resp.Header.Get("Content-Type"), format)
		}
		return m
	}
	for _, tc := range []struct {
		name, url string
		hdr       []string
		w, h      int
	}{
		{"instance jpeg", ct0 + "/rendered", nil, 128, 128},
		{"instance png", ct0 + "/rendered", []string{"Accept", "image/png"}, 128, 128},
		{"accept query", ct0 + "/rendered?accept=image/png", nil, 128, 128},
		{"viewport", ct0 + "/rendered?viewport=64,64&quality=50", nil, 64, 64},
		{"window", ct0 + "/rendered?window=40,400,linear", nil, 128, 128},
		{"frame", ct0 + "/frames/1/rendered", nil, 128, 128},
		{"thumbnail", ct0 + "/thumbnail?viewport=32,32", nil, 32, 32},
		{"thumbnail never enlarged", ct0 + "/thumbnail?viewport=512,512", nil, 128, 128},
		{"rle", inst("test_files/MR_small_RLE.dcm") + "/rendered", nil, 64, 64},
		{"jpeg colour", inst("test_files/SC_rgb_jpeg_dcmtk.dcm") + "/rendered", nil, 0, 0},
		{"multi-frame frame 2", inst("test_files/SC_rgb_rle_2frame.dcm") + "/frames/2/rendered", nil, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := decode(t, tc.url, tc.hdr...)
			if tc.w > 0 && (m.Bounds().Dx() != tc.w || m.Bounds().Dy() != tc.h) {
				t.Errorf("size %v, want %dx%d", m.Bounds(), tc.w, tc.h)
			}
		})
	}
	// Series and study thumbnails pick an image instance.
	st, se, _ := uidsOf(t, file(t, "test_files/CT_small.dcm"))
	decode(t, f.base+"/studies/"+st+"/series/"+se+"/thumbnail")
	decode(t, f.base+"/studies/"+st+"/thumbnail")
	decode(t, f.base+"/studies/"+st+"/rendered")

	// Cached thumbnail: same bytes, ETag and 304.
	resp1, b1 := get(t, ct0+"/thumbnail")
	resp2, b2 := get(t, ct0+"/thumbnail")
	if !bytes.Equal(b1, b2) || resp1.Header.Get("ETag") == "" || resp1.Header.Get("ETag") != resp2.Header.Get("ETag") {
		t.Error("thumbnail not stable")
	}
	if resp, _ := get(t, ct0+"/thumbnail", "If-None-Match", resp1.Header.Get("ETag")); resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}

	// Several frames: multipart/related of images.
	resp, b := get(t, inst("test_files/SC_rgb_rle_2frame.dcm")+"/frames/1,2/rendered", "Accept", `multipart/related; type="image/png"`)
	ps := readParts(t, resp, b)
	if len(ps) != 2 || ps[0].ct != "image/png" {
		t.Fatalf("parts %d", len(ps))
	}
	if _, err := png.Decode(bytes.NewReader(ps[1].body)); err != nil {
		t.Error(err)
	}

	for _, tc := range []struct {
		name, url string
		hdr       []string
		status    int
	}{
		{"bad quality", ct0 + "/rendered?quality=0", nil, 400},
		{"bad window", ct0 + "/rendered?window=40,-1", nil, 400},
		{"bad viewport", ct0 + "/rendered?viewport=0,x", nil, 400},
		{"viewport too large", ct0 + "/rendered?viewport=100000,100000", nil, 400},
		{"unacceptable type", ct0 + "/rendered", []string{"Accept", "text/html"}, 406},
		{"no pixel data", inst("test_files/rtplan.dcm") + "/rendered", nil, 404},
		{"frame beyond", ct0 + "/frames/2/rendered", nil, 404},
		{"unknown instance", f.base + "/studies/1.2/series/1.3/instances/1.4/rendered", nil, 404},
		{"bad uid", f.base + "/studies/1..2/rendered", nil, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := get(t, tc.url, tc.hdr...)
			if resp.StatusCode != tc.status {
				t.Errorf("%d, want %d: %s", resp.StatusCode, tc.status, b)
			}
		})
	}
	_ = jpeg.Decode
}

// TestTranscodeDecodes: an RLE object asked for as Explicit VR Little
// Endian comes back decoded with the pixels of its native original, and its
// frames as application/octet-stream.
func TestTranscodeDecodes(t *testing.T) {
	if !pixels.CanDecode("1.2.840.10008.1.2.5") {
		t.Fatal("RLE must always be decodable")
	}
	f := newFixture(t, dicomweb.Limits{})
	rle := file(t, "test_files/MR_small_RLE.dcm")
	body, ct := multipartBody(t, rle)
	if code, _ := f.stow(t, "/studies", body, ct); code != 200 {
		t.Fatalf("stow: %d", code)
	}
	want := nativeFrames(t, file(t, "test_files/MR_small.dcm"))
	st, se, in := uidsOf(t, rle)
	url := f.base + "/studies/" + st + "/series/" + se + "/instances/" + in

	resp, b := get(t, url, "Accept", `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1`)
	ps := readParts(t, resp, b)
	if len(ps) != 1 || !strings.Contains(ps[0].ct, "transfer-syntax=1.2.840.10008.1.2.1") {
		t.Fatalf("parts: %d %v", len(ps), ps)
	}
	got := nativeFrames(t, ps[0].body)
	if len(got) != 1 || !bytes.Equal(got[0], want[0]) {
		t.Fatal("decoded pixels differ from the native original")
	}
	// No syntax named: lossless RLE is decoded too (the default is
	// Explicit VR Little Endian).
	resp, b = get(t, url, "Accept", `multipart/related; type="application/dicom"`)
	if ps := readParts(t, resp, b); !strings.Contains(ps[0].ct, "1.2.840.10008.1.2.1") {
		t.Errorf("default syntax: %s", ps[0].ct)
	}
	// As stored on request.
	resp, b = get(t, url, "Accept", `multipart/related; type="application/dicom"; transfer-syntax=*`)
	if ps := readParts(t, resp, b); !strings.Contains(ps[0].ct, "1.2.840.10008.1.2.5") {
		t.Errorf("transfer-syntax=*: %s", ps[0].ct)
	}
	// Frames, single part and multipart.
	resp, b = get(t, url+"/frames/1", "Accept", "application/octet-stream")
	if resp.StatusCode != 200 || !bytes.Equal(b, want[0]) {
		t.Errorf("single-part decoded frame: %d, %d bytes", resp.StatusCode, len(b))
	}
	resp, b = get(t, url+"/frames/1", "Accept", `multipart/related; type="application/octet-stream"`)
	if ps := readParts(t, resp, b); len(ps) != 1 || !bytes.Equal(ps[0].body, want[0]) {
		t.Error("multipart decoded frame differs")
	}
	resp, b = get(t, url+"/frames/1", "Accept", `multipart/related; type="image/dicom-rle"`)
	if ps := readParts(t, resp, b); len(ps) != 1 || !strings.HasPrefix(ps[0].ct, "image/dicom-rle") {
		t.Error("stored RLE frame not served as stored")
	}
}
