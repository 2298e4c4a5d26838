package retrieve_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/archive/retrieve"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/kind"
	"github.com/minipacs/minipacs/dicomweb/testkit/dicomwebtest"
	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/storage/disk"
)

// archive is an in-process archive (with its HTTP front door, to compare
// against) and a retrieve service over the same index and objects. The
// MR_small* files of the corpus are one instance in several syntaxes: an
// archive holds one of them.
type archive struct {
	*dicomwebtest.Archive
	svc *retrieve.Service
}

func newArchive(t *testing.T, files ...string) *archive {
	t.Helper()
	a := dicomwebtest.New(t, dicomwebtest.Options{})
	store, err := disk.Open(a.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, f := range files {
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(testcorpus.File(t, f))
	}
	mw.Close()
	resp, err := http.Post(a.Base+"/studies", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary(), &body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("STOW of %v: %d", files, resp.StatusCode)
	}
	return &archive{Archive: a, svc: retrieve.New(a.Index, store)}
}

// ref finds the stored instance of corpus file rel.
func (a *archive) ref(t *testing.T, rel string) *index.Ref {
	t.Helper()
	data := testcorpus.File(t, rel)
	f, err := part10.Parse(context.Background(), bytes.NewReader(data), int64(len(data)), part10.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := a.svc.Ref(context.Background(), f.DataSet.String(0x0020000D), f.DataSet.String(0x0020000E), f.DataSet.String(0x00080018))
	if err != nil {
		t.Fatalf("ref of %s: %v", rel, err)
	}
	return ref
}

// get is the body of a single-part WADO-RS answer.
func (a *archive) get(t *testing.T, ref *index.Ref, suffix, accept string) []byte {
	t.Helper()
	url := fmt.Sprintf("%s/studies/%s/series/%s/instances/%s%s", a.Base, ref.StudyUID, ref.SeriesUID, ref.SOPInstanceUID, suffix)
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", suffix, resp.StatusCode, err)
	}
	return b
}

// written is what body writes, checked against its Size.
func written(t *testing.T, body *retrieve.Body, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	var buf bytes.Buffer
	if err := body.WriteTo(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	if body.Size >= 0 && body.Size != int64(buf.Len()) {
		t.Fatalf("Size %d, wrote %d bytes", body.Size, buf.Len())
	}
	return buf.Bytes()
}

// TestInstance: the service gives the bytes the HTTP front door sends, as
// stored and transcoded (decoded from RLE; re-encoded from Implicit VR),
// with an exact Size when it is known before writing.
func TestInstance(t *testing.T) {
	const explicitLE = part10.ExplicitVRLittleEndian
	ctx := context.Background()
	tests := []struct {
		file     string
		want     string // transfer syntax asked for ("": as stored)
		size     bool   // Size is known before writing
		reencode bool   // the bytes differ from the stored ones
	}{
		{"test_files/MR_small_RLE.dcm", explicitLE, false, true},
		{"test_files/MR_small_RLE.dcm", "", true, false},
		{"test_files/MR_small_implicit.dcm", explicitLE, true, true},
		{"test_files/MR_small_implicit.dcm", "", true, false},
		{"test_files/MR_small.dcm", explicitLE, true, false},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file)+"/"+tt.want, func(t *testing.T) {
			a := newArchive(t, tt.file)
			ref := a.ref(t, tt.file)
			want := tt.want
			if want == "" {
				want = ref.TransferSyntaxUID
			}
			body, err := a.svc.Instance(ctx, ref, want)
			if err == nil && (body.Size >= 0) != tt.size {
				t.Errorf("Size %d", body.Size)
			}
			got := written(t, body, err)
			http := a.get(t, ref, "", "application/dicom; transfer-syntax="+want)
			if !bytes.Equal(got, http) {
				t.Errorf("service wrote %d bytes, HTTP sent %d other bytes", len(got), len(http))
			}
			stored, _ := os.ReadFile(filepath.Join(a.Dir, "objects", filepath.FromSlash(ref.ObjectKey)))
			if bytes.Equal(got, stored) == tt.reencode {
				t.Errorf("bytes equal to the stored object: %v, want %v", !tt.reencode, !tt.reencode)
			}
			if tt.reencode {
				f, err := part10.Parse(ctx, bytes.NewReader(got), int64(len(got)), part10.Limits{})
				if err != nil || f.TransferSyntax.UID != explicitLE {
					t.Errorf("re-encoded object: %v", err)
				}
			}
		})
	}
}

// TestInstanceImplicit: Implicit VR Little Endian, what DIMSE peers accept
// by default, is sent as stored, re-encoded from the other native syntaxes
// (the bytes part10.WriteNative writes of the original, with an exact
// Size) or decoded (from RLE: the pixels of the native twin). dcmdump, when
// DCMTK is installed, reads every answer without a complaint.
func TestInstanceImplicit(t *testing.T) {
	const implicitLE = part10.ImplicitVRLittleEndian
	ctx := context.Background()
	dcmdump, _ := exec.LookPath("dcmdump")
	tests := []struct {
		file     string
		stored   string // its transfer syntax
		size     bool   // Size is known before writing
		reencode bool   // the bytes differ from the stored ones
		decoder  string // the DCMTK tool that decodes it to compare with
	}{
		{"test_files/MR_small.dcm", part10.ExplicitVRLittleEndian, true, true, ""},
		{"test_files/MR_small_bigendian.dcm", part10.ExplicitVRBigEndian, true, true, ""},
		{"test_files/image_dfl.dcm", part10.DeflatedExplicitVRLittleEndian, true, true, ""},
		{"test_files/MR_small_implicit.dcm", implicitLE, true, false, ""},
		{"test_files/MR_small_RLE.dcm", "1.2.840.10008.1.2.5", false, true, "dcmdrle"},
	}
	native := frameOf(t, testcorpus.File(t, "test_files/MR_small.dcm"))
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			a := newArchive(t, tt.file)
			ref := a.ref(t, tt.file)
			if ref.TransferSyntaxUID != tt.stored {
				t.Fatalf("stored in %s, want %s", ref.TransferSyntaxUID, tt.stored)
			}
			if !retrieve.CanSend(ref, implicitLE) {
				t.Fatal("CanSend says no")
			}
			body, err := a.svc.Instance(ctx, ref, implicitLE)
			if err == nil && (body.Size >= 0) != tt.size {
				t.Errorf("Size %d", body.Size)
			}
			got := written(t, body, err)
			src := testcorpus.File(t, tt.file)
			stored, _ := os.ReadFile(filepath.Join(a.Dir, "objects", filepath.FromSlash(ref.ObjectKey)))
			if bytes.Equal(got, stored) == tt.reencode {
				t.Errorf("bytes equal to the stored object: %v, want %v", !tt.reencode, !tt.reencode)
			}
			f, err := part10.Parse(ctx, bytes.NewReader(got), int64(len(got)), part10.Limits{})
			if err != nil || f.TransferSyntax.UID != implicitLE {
				t.Fatalf("sent object: %v", err)
			}
			if src, err := part10.Parse(ctx, bytes.NewReader(src), int64(len(src)), part10.Limits{}); err != nil {
				t.Fatal(err)
			} else if src.TransferSyntax.Encapsulated {
				// Decoded: every element but the pixel data kept.
				for _, el := range src.DataSet.Elements {
					if e := f.DataSet.Find(el.Tag); e == nil || el.Tag != part10.TagPixelData && !bytes.Equal(e.Value, el.Value) {
						t.Errorf("element %s lost or changed: %+v", el.Tag, e)
					}
				}
			} else if tt.reencode {
				var want bytes.Buffer
				if err := part10.WriteNative(ctx, &want, src, byteOpener(testcorpus.File(t, tt.file)), implicitLE); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want.Bytes()) {
					t.Errorf("sent %d bytes, not the %d bytes of part10.WriteNative", len(got), want.Len())
				}
			}
			if strings.HasPrefix(filepath.Base(tt.file), "MR_small") && !bytes.Equal(frameOf(t, got), native) {
				t.Error("frame differs from MR_small.dcm's")
			}
			if dcmdump != "" {
				path := filepath.Join(t.TempDir(), "sent.dcm")
				if err := os.WriteFile(path, got, 0o600); err != nil {
					t.Fatal(err)
				}
				var stderr bytes.Buffer
				cmd := exec.Command(dcmdump, path)
				cmd.Stderr = &stderr
				if err := cmd.Run(); err != nil || stderr.Len() > 0 {
					t.Errorf("dcmdump: %v: %s", err, stderr.Bytes())
				}
				if tt.decoder != "" {
					sameAsDCMTK(t, dcmdump, tt.decoder, filepath.Join(testcorpus.DirT(t), filepath.FromSlash(tt.file)), got)
				}
			}
		})
	}
}

// sameAsDCMTK requires dcmdump to print the same data set for got as for
// the DCMTK decoder's Implicit VR Little Endian (+ti, undefined lengths)
// conversion of src, when that tool is installed.
func sameAsDCMTK(t *testing.T, dcmdump, decoder, src string, got []byte) {
	t.Helper()
	tool, err := exec.LookPath(decoder)
	if err != nil {
		return
	}
	dir := t.TempDir()
	ours, theirs := filepath.Join(dir, "ours.dcm"), filepath.Join(dir, "theirs.dcm")
	if err := os.WriteFile(ours, got, 0o600); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command(tool, "+ti", "-e", src, theirs).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", decoder, err, msg)
	}
	dump := func(path string) string {
		out, err := exec.Command(dcmdump, "+L", path).Output()
		if err != nil {
			t.Fatalf("dcmdump: %v", err)
		}
		s := string(out)
		if i := strings.Index(s, "# Dicom-Data-Set"); i >= 0 {
			s = s[i:] // without the file meta group
		}
		return s
	}
	if a, b := dump(ours), dump(theirs); a != b {
		t.Errorf("dcmdump of ours:\n%s\nof %s's:\n%s", a, decoder, b)
	}
}

// frameOf is the first frame of the native object data.
func frameOf(t *testing.T, data []byte) []byte {
	t.Helper()
	f, err := part10.Parse(context.Background(), bytes.NewReader(data), int64(len(data)), part10.Limits{})
	if err != nil || len(f.Layout.Frames) == 0 {
		t.Fatalf("frames: %v", err)
	}
	var b bytes.Buffer
	if err := part10.WriteFrame(context.Background(), &b, byteOpener(data), &f.Layout, f.Layout.Frames[0]); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// byteOpener serves ranged reads of an in-memory object.
func byteOpener(b []byte) part10.OpenFunc {
	return func(_ context.Context, off, n int64) (io.ReadCloser, error) {
		end := int64(len(b))
		if n >= 0 && off+n < end {
			end = off + n
		}
		return io.NopCloser(bytes.NewReader(b[off:end])), nil
	}
}

// TestFrames: stored and decoded frames are the HTTP front door's.
func TestFrames(t *testing.T) {
	ctx := context.Background()
	archives := map[string]*archive{}
	for _, file := range []string{"test_files/MR_small_RLE.dcm", "test_files/MR_small.dcm", "test_files/MR_small_bigendian.dcm"} {
		archives[file] = newArchive(t, file)
	}
	t.Run("stored native", func(t *testing.T) {
		for _, file := range []string{"test_files/MR_small.dcm", "test_files/MR_small_bigendian.dcm"} {
			a := archives[file]
			ref := a.ref(t, file)
			frames, err := a.svc.Frames(ctx, ref)
			if err != nil || frames.Count() != 1 {
				t.Fatalf("%s: %v", file, err)
			}
			if frames.Direct() == (file == "test_files/MR_small_bigendian.dcm") {
				t.Errorf("%s: Direct %v", file, frames.Direct())
			}
			body, err := frames.Frame(ctx, 1)
			if err == nil && body.Size != frames.FrameSize(1) {
				t.Errorf("%s: Size %d, FrameSize %d", file, body.Size, frames.FrameSize(1))
			}
			got := written(t, body, err)
			if http := a.get(t, ref, "/frames/1", "application/octet-stream"); !bytes.Equal(got, http) {
				t.Errorf("%s: frame differs from HTTP's", file)
			}
		}
		// Both files hold the same pixels.
		b1 := frameBytes(t, archives["test_files/MR_small.dcm"], "test_files/MR_small.dcm")
		b2 := frameBytes(t, archives["test_files/MR_small_bigendian.dcm"], "test_files/MR_small_bigendian.dcm")
		if !bytes.Equal(b1, b2) {
			t.Error("big endian frame not swapped")
		}
	})
	t.Run("decoded", func(t *testing.T) {
		a := archives["test_files/MR_small_RLE.dcm"]
		ref := a.ref(t, "test_files/MR_small_RLE.dcm")
		im, err := a.svc.Image(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		body, err := im.Frame(ctx, 1)
		got := written(t, body, err)
		if http := a.get(t, ref, "/frames/1", "application/octet-stream"); !bytes.Equal(got, http) {
			t.Error("decoded frame differs from HTTP's")
		}
		if native := frameBytes(t, archives["test_files/MR_small.dcm"], "test_files/MR_small.dcm"); !bytes.Equal(got, native) {
			t.Error("decoded frame differs from the native original")
		}
	})
	t.Run("stored RLE", func(t *testing.T) {
		a := archives["test_files/MR_small_RLE.dcm"]
		ref := a.ref(t, "test_files/MR_small_RLE.dcm")
		frames, err := a.svc.Frames(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		body, err := frames.Frame(ctx, 1)
		got := written(t, body, err)
		http := a.get(t, ref, "/frames/1", `multipart/related; type="image/dicom-rle"`)
		if len(got) == 0 || !bytes.Contains(http, got) {
			t.Error("stored RLE frame is not in HTTP's answer")
		}
	})
}

func frameBytes(t *testing.T, a *archive, file string) []byte {
	t.Helper()
	body, err := mustFrame(t, a, file)
	return written(t, body, err)
}

func mustFrame(t *testing.T, a *archive, file string) (*retrieve.Body, error) {
	frames, err := a.svc.Frames(context.Background(), a.ref(t, file))
	if err != nil {
		return nil, err
	}
	return frames.Frame(context.Background(), 1)
}

// TestRender: a rendered frame is a JPEG or PNG; RenderKey tells options
// apart; the cache gives back what it was given.
func TestRender(t *testing.T) {
	a := newArchive(t, "test_files/MR_small_RLE.dcm")
	ctx := context.Background()
	ref, err := a.svc.RenderTarget(ctx, a.ref(t, "test_files/MR_small_RLE.dcm").StudyUID, "", "", false)
	if err != nil {
		t.Fatal(err)
	}
	im, err := a.svc.Image(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	jpeg := retrieve.RenderOptions{Media: "image/jpeg", Quality: 90}
	png := retrieve.RenderOptions{Media: "image/png", Quality: 90}
	for _, c := range []struct {
		opt   retrieve.RenderOptions
		magic []byte
	}{{jpeg, []byte{0xFF, 0xD8}}, {png, []byte("\x89PNG")}} {
		b, err := im.Render(ctx, 1, c.opt)
		if err != nil || !bytes.HasPrefix(b, c.magic) {
			t.Errorf("%s: %v", c.opt.Media, err)
		}
	}
	thumb := jpeg
	thumb.Thumbnail = true
	keys := map[string]bool{}
	for _, k := range []string{
		retrieve.RenderKey(ref, []int{1}, jpeg), retrieve.RenderKey(ref, []int{1}, png),
		retrieve.RenderKey(ref, []int{1}, thumb), retrieve.RenderKey(ref, []int{2}, jpeg),
	} {
		keys[k] = true
	}
	if len(keys) != 4 {
		t.Errorf("RenderKey: %d distinct keys of 4", len(keys))
	}
	k := retrieve.RenderKey(ref, []int{1}, jpeg)
	if _, ok := a.svc.Cached(k); ok {
		t.Error("cached before Cache")
	}
	a.svc.Cache(k, []byte("picture"))
	if b, ok := a.svc.Cached(k); !ok || string(b) != "picture" {
		t.Error("Cache then Cached")
	}
}

// TestRefusals: every refusal has its sentinel, its kind and, for the
// NotFound ones, a Reason.
func TestRefusals(t *testing.T) {
	a := newArchive(t, "test_files/rtplan.dcm", "test_files/MR_small.dcm")
	ctx := context.Background()
	plan := a.ref(t, "test_files/rtplan.dcm")
	mr := a.ref(t, "test_files/MR_small.dcm")
	frames, err := a.svc.Frames(ctx, mr)
	if err != nil {
		t.Fatal(err)
	}
	_, errRef := a.svc.Ref(ctx, mr.StudyUID, mr.SeriesUID, "1.2.3.4")
	_, errFrames := a.svc.Frames(ctx, plan)
	_, errImage := a.svc.Image(ctx, plan)
	_, errFrame := frames.Frame(ctx, 2)
	_, errBulk := a.svc.Bulk(ctx, mr, "00091234")
	_, errTarget := a.svc.RenderTarget(ctx, plan.StudyUID, plan.SeriesUID, "", true)
	_, errConvert := a.svc.Instance(ctx, mr, "1.2.840.10008.1.2.4.50")
	tests := []struct {
		name   string
		err    error
		is     error
		kind   *kind.Kind
		reason string
	}{
		{"unknown instance", errRef, index.ErrNotFound, kind.NotFound, ""},
		{"no frames", errFrames, retrieve.ErrNoFrames, kind.NotFound, "the instance has no pixel data frames"},
		{"no pixel data", errImage, retrieve.ErrNoPixelData, kind.NotFound, "the instance has no pixel data"},
		{"frame beyond", errFrame, retrieve.ErrNoSuchFrame, kind.NotFound, "frame number beyond the number of frames"},
		{"no bulk data", errBulk, retrieve.ErrNoBulkData, kind.NotFound, "not found"},
		{"no image", errTarget, retrieve.ErrNoImage, kind.NotFound, "no instance with pixel data"},
		{"cannot convert", errConvert, retrieve.ErrCannotConvert, kind.Unsupported, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.is) || kind.Of(tt.err) != tt.kind || retrieve.Reason(tt.err) != tt.reason {
				t.Errorf("%v: kind %v, reason %q", tt.err, kind.Of(tt.err), retrieve.Reason(tt.err))
			}
		})
	}
	if !retrieve.CanSend(mr, mr.TransferSyntaxUID) || !retrieve.CanSend(mr, part10.ExplicitVRLittleEndian) ||
		!retrieve.CanSend(mr, part10.ImplicitVRLittleEndian) || retrieve.CanSend(mr, "1.2.840.10008.1.2.4.50") ||
		retrieve.CanSend(mr, part10.ExplicitVRBigEndian) {
		t.Error("CanSend of a native instance")
	}
}

// TestStoredObjectFaults: a stored object that no longer parses is
// ErrStoredObject, of no kind (a 500, not the parser's Invalid); a
// missing object keeps the store's error; a cancelled ctx stays
// context.Canceled.
func TestStoredObjectFaults(t *testing.T) {
	ai, a := newArchive(t, "test_files/MR_small_implicit.dcm"), newArchive(t, "test_files/MR_small_RLE.dcm")
	implicit := ai.ref(t, "test_files/MR_small_implicit.dcm")
	rle := a.ref(t, "test_files/MR_small_RLE.dcm")
	path := func(a *archive, ref *index.Ref) string {
		return filepath.Join(a.Dir, "objects", filepath.FromSlash(ref.ObjectKey))
	}
	// Garbage after the file meta information.
	b, err := os.ReadFile(path(ai, implicit))
	if err != nil {
		t.Fatal(err)
	}
	for i := 400; i < len(b); i++ {
		b[i] = 0xFF
	}
	if err := os.WriteFile(path(ai, implicit), b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ai.svc.Instance(context.Background(), implicit, part10.ExplicitVRLittleEndian)
	if !errors.Is(err, retrieve.ErrStoredObject) || kind.Of(err) != nil || errors.Is(err, part10.ErrMalformed) {
		t.Errorf("malformed stored object: %v (kind %v)", err, kind.Of(err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.svc.Image(ctx, rle); !errors.Is(err, context.Canceled) || errors.Is(err, retrieve.ErrStoredObject) {
		t.Errorf("cancelled: %v", err)
	}
	if err := os.Remove(path(a, rle)); err != nil {
		t.Fatal(err)
	}
	for name, fn := range map[string]func() error{
		"instance": func() error { _, err := a.svc.Instance(context.Background(), rle, rle.TransferSyntaxUID); return err },
		"decoded": func() error {
			_, err := a.svc.Instance(context.Background(), rle, part10.ExplicitVRLittleEndian)
			return err
		},
		"frame": func() error { _, err := mustFrame(t, a, "test_files/MR_small_RLE.dcm"); return err },
	} {
		if err := fn(); !errors.Is(err, fs.ErrNotExist) || errors.Is(err, retrieve.ErrStoredObject) {
			t.Errorf("%s of a missing object: %v", name, err)
		}
	}
}

// readerFrom records what io.Copy hands to its ReadFrom.
type readerFrom struct {
	bytes.Buffer
	srcs []io.Reader
}

func (w *readerFrom) ReadFrom(r io.Reader) (int64, error) {
	w.srcs = append(w.srcs, r)
	return w.Buffer.ReadFrom(r)
}

// TestSendfile: stored bytes reach a writer's ReadFrom as an
// *io.LimitedReader over the disk store's *os.File, which net/http sends
// by sendfile: whole objects, and the ranges of direct frames.
func TestSendfile(t *testing.T) {
	a := newArchive(t, "test_files/MR_small.dcm")
	ctx := context.Background()
	ref := a.ref(t, "test_files/MR_small.dcm")
	frames, err := a.svc.Frames(ctx, ref)
	if err != nil || !frames.Direct() {
		t.Fatalf("frames: %v", err)
	}
	inst, err := a.svc.Instance(ctx, ref, ref.TransferSyntaxUID)
	if err != nil {
		t.Fatal(err)
	}
	frame, err := frames.Frame(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]*retrieve.Body{"instance": inst, "frame": frame} {
		var w readerFrom
		if err := body.WriteTo(ctx, &w); err != nil {
			t.Fatal(err)
		}
		body.Close()
		if int64(w.Len()) != body.Size || len(w.srcs) == 0 {
			t.Fatalf("%s: %d bytes of %d, %d ReadFrom calls", name, w.Len(), body.Size, len(w.srcs))
		}
		for _, src := range w.srcs {
			lr, ok := src.(*io.LimitedReader)
			if _, file := lr.R.(*os.File); !ok || !file {
				t.Errorf("%s: ReadFrom got %T, not a limited *os.File", name, src)
			}
		}
	}
}
