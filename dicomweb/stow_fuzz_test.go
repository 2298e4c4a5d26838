package dicomweb_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/dicomweb"
	"github.com/minipacs/minipacs/dicomweb/archive/ingest"
	"github.com/minipacs/minipacs/dicomweb/testkit/dicomwebtest"
)

// FuzzSTOW sends arbitrary bodies through the whole STOW-RS handler
// (multipart reader, spool, parser, index, store) over real HTTP: it must
// never answer 5xx, never panic, and never leave spool files behind.
func FuzzSTOW(f *testing.F) {
	ct, _ := os.ReadFile(filepath.Join(testdataDir(f), "test_files", "CT_small.dcm"))
	seed := func(parts ...[]byte) []byte {
		var b bytes.Buffer
		for _, p := range parts {
			b.WriteString("--B\r\nContent-Type: application/dicom\r\n\r\n")
			b.Write(p)
			b.WriteString("\r\n")
		}
		b.WriteString("--B--\r\n")
		return b.Bytes()
	}
	f.Add(seed(ct))
	f.Add(seed(ct[:600], ct))
	f.Add(seed([]byte("DICM")))
	f.Add([]byte("--B\r\n\r\n"))
	f.Add([]byte("--B--"))
	f.Add([]byte{})

	fx := fixtureOf(dicomwebtest.New(f, dicomwebtest.Options{
		Limits: dicomweb.Limits{MaxRequestBytes: 1 << 20, MaxParts: 50},
		Ingest: ingest.Limits{MaxPartBytes: 512 << 10},
	}))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := http.NewRequest("POST", fx.base+"/studies", bytes.NewReader(body))
		req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=B`)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if ents, _ := os.ReadDir(filepath.Join(fx.data, "spool")); len(ents) != 0 {
			t.Fatalf("%d spool files left", len(ents))
		}
	})
}
