package dicomweb_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/testkit/dicomwebtest"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/storage"
)

// Tests of the declared lengths and zero-copy sending of retrieve and
// frames (sendfile.go): the Content-Length must equal the bytes sent, for
// the disk store (sendfile) and for a store whose readers are not files
// (plain copy), and a failure after the status is committed must abort the
// connection rather than end the body early.

// newStoreFixture is newFixture with the disk store wrapped by wrap.
func newStoreFixture(t *testing.T, wrap func(storage.Store) storage.Store) *fixture {
	t.Helper()
	return fixtureOf(dicomwebtest.New(t, dicomwebtest.Options{WrapStore: wrap}))
}

// plainStore hides the disk store's optional interfaces and its files:
// Get and GetRange give readers that are not *os.File.
type plainStore struct{ s storage.Store }

func (p plainStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return p.s.Put(ctx, key, r, size)
}
func (p plainStore) Delete(ctx context.Context, key string) error { return p.s.Delete(ctx, key) }
func (p plainStore) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	rc, n, err := p.s.Get(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	return struct {
		io.Reader
		io.Closer
	}{rc, rc}, n, nil
}

// failingStore serves the object with key failKey truncated: its reader
// fails with errBoom after half the object.
type failingStore struct {
	plainStore
	failKey string
}

var errBoom = errors.New("boom")

func (f *failingStore) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	rc, n, err := f.plainStore.Get(ctx, key)
	if err != nil || key != f.failKey {
		return rc, n, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, n/2), errReader{}), rc}, n, nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBoom }

// pixelInst is an instance of a 16×16, 16-bit, 3-frame image whose pixel
// bytes depend on seed.
func pixelInst(study, series, sop string, seed int) ([]byte, []byte) {
	const rows, cols, frames = 16, 16, 3
	px := make([]byte, rows*cols*2*frames)
	for i := range px {
		px[i] = byte(i*7 + seed*13)
	}
	us := func(tag uint32, v uint16) rel {
		return rel{tag, "US", binary.LittleEndian.AppendUint16(nil, v)}
	}
	return makeInst(inst{study: study, series: series, sop: sop, modality: "CT", extra: []rel{
		us(0x00280002, 1),
		str(0x00280004, "CS", "MONOCHROME2"),
		str(0x00280008, "IS", strconv.Itoa(frames)),
		us(0x00280010, rows), us(0x00280011, cols),
		us(0x00280100, 16), us(0x00280101, 16), us(0x00280102, 15), us(0x00280103, 0),
		{0x7FE00010, "OW", px},
	}}), px
}

// getRaw fetches url and returns the response and its body with the read
// error (not fatal: an aborted connection is an expected outcome).
func getRaw(t *testing.T, url, accept string) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func checkLength(t *testing.T, resp *http.Response, b []byte, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if resp.ContentLength < 0 || len(resp.TransferEncoding) > 0 {
		t.Fatalf("no Content-Length (transfer encoding %v)", resp.TransferEncoding)
	}
	if resp.ContentLength != int64(len(b)) {
		t.Fatalf("Content-Length %d, body %d bytes", resp.ContentLength, len(b))
	}
}

// sendStores are the stores the length tests run on: the disk store, whose
// readers are files (sendfile), and the same store behind plainStore (copy).
var sendStores = []struct {
	name string
	wrap func(storage.Store) storage.Store
}{
	{"disk", nil},
	{"plain", func(s storage.Store) storage.Store { return plainStore{s} }},
}

const dicomAny = `multipart/related; type="application/dicom"; transfer-syntax=*`

func TestRetrieveDeclaresExactLength(t *testing.T) {
	for _, st := range sendStores {
		t.Run(st.name, func(t *testing.T) {
			f := newStoreFixture(t, st.wrap)
			const study = "1.2.826.0.1.3680043.2.1125.9.1"
			for _, n := range []int{1, 2, 13} {
				t.Run(fmt.Sprint(n), func(t *testing.T) {
					series := fmt.Sprintf("%s.%d", study, n)
					want := map[string][]byte{}
					var objs [][]byte
					for i := range n {
						sop := fmt.Sprintf("%s.%d", series, i+1)
						b, _ := pixelInst(study, series, sop, i)
						objs = append(objs, b)
						w := bytes.Clone(b)
						clear(w[:128])
						want[sop] = w
					}
					mustStow(t, f, objs...)
					resp, b, err := getRaw(t, f.base+"/studies/"+study+"/series/"+series, dicomAny)
					checkLength(t, resp, b, err)
					parts := readParts(t, resp, b)
					if len(parts) != n {
						t.Fatalf("%d parts, want %d", len(parts), n)
					}
					for i, p := range parts {
						if p.cl != strconv.Itoa(len(p.body)) {
							t.Errorf("part %d: Content-Length %q, body %d bytes", i, p.cl, len(p.body))
						}
						found := false
						for _, w := range want {
							found = found || bytes.Equal(w, p.body)
						}
						if !found {
							t.Errorf("part %d: bytes differ from every stored instance", i)
						}
					}
					// Single part, instance level.
					sop := series + ".1"
					resp, b, err = getRaw(t, f.base+"/studies/"+study+"/series/"+series+"/instances/"+sop, "application/dicom; transfer-syntax=*")
					checkLength(t, resp, b, err)
					if !bytes.Equal(b, want[sop]) {
						t.Errorf("single part: wrong bytes")
					}
				})
			}
		})
	}
}

// TestRetrieveAbortsMidStream: an object that cannot be sent in full after
// the 200 went out drops the connection; the client sees a failed read,
// never a shorter body that looks complete.
func TestRetrieveAbortsMidStream(t *testing.T) {
	const study = "1.2.826.0.1.3680043.2.1125.9.2"
	const series = study + ".1"
	stowSeries := func(t *testing.T, f *fixture) []index.Ref {
		var objs [][]byte
		for i := range 4 {
			b, _ := pixelInst(study, series, fmt.Sprintf("%s.%d", series, i+1), i)
			objs = append(objs, b)
		}
		mustStow(t, f, objs...)
		refs, err := f.idx.Refs(context.Background(), study, series)
		if err != nil || len(refs) != 4 {
			t.Fatalf("refs: %d %v", len(refs), err)
		}
		return refs
	}
	t.Run("truncated file", func(t *testing.T) {
		f := newStoreFixture(t, nil)
		refs := stowSeries(t, f)
		p := filepath.Join(f.data, "objects", filepath.FromSlash(refs[2].ObjectKey))
		if err := os.Truncate(p, refs[2].Size-100); err != nil {
			t.Fatal(err)
		}
		resp, _, err := getRaw(t, f.base+"/studies/"+study+"/series/"+series, dicomAny)
		if resp.StatusCode != 200 || err == nil {
			t.Fatalf("status %d, read error %v: want 200 and a failed read", resp.StatusCode, err)
		}
	})
	t.Run("read error", func(t *testing.T) {
		fs := &failingStore{}
		f := newStoreFixture(t, func(s storage.Store) storage.Store { fs.plainStore = plainStore{s}; return fs })
		refs := stowSeries(t, f)
		fs.failKey = refs[1].ObjectKey
		resp, _, err := getRaw(t, f.base+"/studies/"+study+"/series/"+series, dicomAny)
		if resp.StatusCode != 200 || err == nil {
			t.Fatalf("status %d, read error %v: want 200 and a failed read", resp.StatusCode, err)
		}
		// Single part: the length is declared, the body cannot complete.
		sop := refs[1].SOPInstanceUID
		resp, _, err = getRaw(t, f.base+"/studies/"+study+"/series/"+series+"/instances/"+sop, "application/dicom; transfer-syntax=*")
		if resp.StatusCode != 200 || err == nil {
			t.Fatalf("single part: status %d, read error %v: want 200 and a failed read", resp.StatusCode, err)
		}
	})
}

func TestFramesDeclareExactLength(t *testing.T) {
	for _, st := range sendStores {
		t.Run(st.name, func(t *testing.T) {
			f := newStoreFixture(t, st.wrap)
			const study = "1.2.826.0.1.3680043.2.1125.9.3"
			const series = study + ".1"
			const sop = series + ".1"
			b, px := pixelInst(study, series, sop, 5)
			mustStow(t, f, b)
			frame := func(n int) []byte { return px[(n-1)*512 : n*512] }
			url := f.base + "/studies/" + study + "/series/" + series + "/instances/" + sop + "/frames/"

			resp, body, err := getRaw(t, url+"2", "application/octet-stream")
			checkLength(t, resp, body, err)
			if !bytes.Equal(body, frame(2)) {
				t.Errorf("single frame: wrong bytes")
			}
			for _, list := range []string{"1", "3,1", "1,2,3,2"} {
				resp, body, err := getRaw(t, url+list, `multipart/related; type="application/octet-stream"`)
				checkLength(t, resp, body, err)
				parts := readParts(t, resp, body)
				var nums []int
				for _, s := range bytes.Split([]byte(list), []byte(",")) {
					n, _ := strconv.Atoi(string(s))
					nums = append(nums, n)
				}
				if len(parts) != len(nums) {
					t.Fatalf("%s: %d parts", list, len(parts))
				}
				for i, p := range parts {
					if !bytes.Equal(p.body, frame(nums[i])) || p.cl != "512" {
						t.Errorf("%s: part %d: wrong bytes or Content-Length %q", list, i, p.cl)
					}
				}
			}
			// A missing object is still a status code, not a broken body.
			refs, _ := f.idx.Refs(context.Background(), study, series)
			os.Remove(filepath.Join(f.data, "objects", filepath.FromSlash(refs[0].ObjectKey)))
			if resp, _, _ := getRaw(t, url+"1", "application/octet-stream"); resp.StatusCode < 400 {
				t.Errorf("missing object: status %d", resp.StatusCode)
			}
		})
	}
}
