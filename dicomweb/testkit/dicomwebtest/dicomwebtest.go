// Package dicomwebtest runs an in-process DICOMweb archive for tests: the
// real handlers of package dicomweb, with the real ingester, on a disk
// store and a bbolt index in a temporary directory, served by httptest on
// loopback.
package dicomwebtest

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb"
	"github.com/minipacs/minipacs/dicomweb/archive/ingest"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/storage"
	"github.com/minipacs/minipacs/storage/disk"
)

// Options change the archive; the zero value is the default server.
type Options struct {
	// Limits are the handlers' limits (zero: dicomweb's defaults).
	Limits dicomweb.Limits
	// Ingest are the ingester's limits (zero: ingest's defaults).
	Ingest ingest.Limits
	// WrapStore, when set, wraps the disk store that the handlers read
	// from; the ingester still writes to the disk store itself.
	WrapStore func(storage.Store) storage.Store
}

// Archive is a running archive. It is stopped, and its index closed,
// when the test ends.
type Archive struct {
	Server *httptest.Server
	Base   string       // the DICOMweb root: Server.URL + "/dicomweb"
	Index  *index.Index // the index the handlers use
	Dir    string       // the data directory: objects/, index.db, spool/
}

// New starts an archive on a new temporary directory of t.
func New(t testing.TB, opts Options) *Archive {
	t.Helper()
	dir := t.TempDir()
	d, err := disk.Open(dir)
	if err != nil {
		t.Fatalf("dicomwebtest: open disk store: %v", err)
	}
	var store storage.Store = d
	if opts.WrapStore != nil {
		store = opts.WrapStore(d)
	}
	idx, err := index.Open(context.Background(), filepath.Join(dir, "index.db"), index.Options{})
	if err != nil {
		t.Fatalf("dicomwebtest: open index: %v", err)
	}
	ing, err := ingest.New(d, idx, ingest.Config{SpoolDir: filepath.Join(dir, "spool"), Ingest: opts.Ingest})
	if err != nil {
		idx.Close()
		t.Fatalf("dicomwebtest: ingester: %v", err)
	}
	e := echo.New()
	dicomweb.New(dicomweb.Config{Index: idx, Store: store, Ingester: ing, Limits: opts.Limits}).Install(e)
	srv := httptest.NewServer(e)
	t.Cleanup(func() { srv.Close(); idx.Close() })
	return &Archive{Server: srv, Base: srv.URL + "/dicomweb", Index: idx, Dir: dir}
}
