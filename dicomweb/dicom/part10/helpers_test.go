package part10

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"
)

// pydicomDir is shared/testdata/pydicom.
func pydicomDir(tb testing.TB) string { return testcorpus.DirT(tb) }

// dicomFiles lists every file under the pydicom test data that may be a
// DICOM object (everything but the obvious text and archive files).
func dicomFiles(tb testing.TB) []string {
	tb.Helper()
	root := pydicomDir(tb)
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		switch strings.ToLower(filepath.Ext(name)) {
		case ".txt", ".json", ".dump", ".gz", ".md", ".py":
			return nil
		}
		if strings.HasPrefix(name, "README") {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func parseBytes(b []byte) (*File, error) {
	return Parse(context.Background(), bytes.NewReader(b), int64(len(b)), Limits{})
}

// byteOpener serves ranged reads of an in-memory object.
func byteOpener(b []byte) OpenFunc {
	return func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		if off < 0 || off > int64(len(b)) {
			return nil, io.ErrUnexpectedEOF
		}
		end := int64(len(b))
		if n >= 0 && off+n < end {
			end = off + n
		}
		return io.NopCloser(bytes.NewReader(b[off:end])), nil
	}
}
