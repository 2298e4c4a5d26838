package dicomweb

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/minipacs/minipacs/"

// rooms are the import rules of the folders below dicomweb/ (each room's
// doc.go says them in prose): a package in a room may not import any path
// that starts with one of forbidden (module paths without the module
// prefix; "net/http" and echo are the HTTP server side).
var rooms = []struct {
	dir       string
	forbidden []string
}{
	{"kind", []string{"dicomweb", "index", "storage", "web", "cmd"}},
	{"dicom", []string{"dicomweb/archive", "dicomweb/security", "dicomweb/metrics", "dicomweb/stowclient", "dicomweb/testkit", "dicomweb/dimse", "dicomweb/hl7", "dicomweb/fhir", "index", "storage", "web", "cmd", "net/http", "github.com/labstack/echo"}},
	{"archive", []string{"dicomweb/security", "dicomweb/stowclient", "dicomweb/testkit", "dicomweb/dimse", "dicomweb/hl7", "dicomweb/fhir", "web", "cmd", "github.com/labstack/echo"}},
	{"security", []string{"dicomweb/archive", "dicomweb/stowclient", "dicomweb/testkit", "index", "storage", "web", "cmd"}},
	{"metrics", []string{"dicomweb/dicom", "dicomweb/security", "dicomweb/stowclient", "dicomweb/testkit", "dicomweb/dimse", "dicomweb/hl7", "dicomweb/fhir", "web", "cmd"}},
	// Front doors beside the DICOMweb handlers: archive, dicom, kind,
	// security, index and storage only.
	{"dimse", []string{"dicomweb/stowclient", "dicomweb/testkit", "dicomweb/hl7", "dicomweb/fhir", "web", "cmd", "net/http", "github.com/labstack/echo"}},
	// The FHIR facade: an HTTP front door (net/http and echo allowed).
	{"fhir", []string{"dicomweb/stowclient", "dicomweb/testkit", "dicomweb/dimse", "dicomweb/hl7", "dicomweb/metrics", "web", "cmd"}},
	{"hl7", []string{"dicomweb/stowclient", "dicomweb/testkit", "dicomweb/dimse", "dicomweb/fhir", "web", "cmd", "net/http", "github.com/labstack/echo"}},
}

// frontDoors may be imported by cmd only (checked by TestRooms).
var frontDoors = []string{"dicomweb/dimse", "dicomweb/fhir", "dicomweb/hl7"}

// TestRooms checks the rooms' import rules on every non-test file, and
// that the front door (this package) and the rooms never import their
// parent: a room may be used by the front doors, not the other way round.
func TestRooms(t *testing.T) {
	for _, room := range rooms {
		err := filepath.WalkDir(room.dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			// Test helper packages (…test) may use the testkit.
			helper := strings.HasSuffix(filepath.Base(filepath.Dir(path)), "test")
			for _, imp := range importsOf(t, path) {
				p := strings.TrimPrefix(imp, module)
				if p == "dicomweb" {
					t.Errorf("%s imports the DICOMweb front door (package dicomweb)", path)
				}
				for _, f := range room.forbidden {
					if helper && f == "dicomweb/testkit" {
						continue
					}
					if p == f || strings.HasPrefix(p, f+"/") {
						t.Errorf("%s (room %s) imports %s", path, room.dir, imp)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Nothing but cmd imports a front door (tests of the door itself
	// aside).
	filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		for _, imp := range importsOf(t, path) {
			for _, door := range frontDoors {
				if imp == module+door && !strings.HasPrefix(filepath.ToSlash(path), strings.TrimPrefix(door, "dicomweb/")+"/") {
					t.Errorf("%s imports the front door %s", path, imp)
				}
			}
		}
		return nil
	})
	// No package that ships in the binary imports the testkit.
	for _, top := range []string{"."} {
		filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			dir := filepath.ToSlash(filepath.Dir(path))
			if strings.HasPrefix(dir, "testkit") || strings.HasSuffix(dir, "test") {
				return nil
			}
			for _, imp := range importsOf(t, path) {
				if strings.HasPrefix(imp, module+"dicomweb/testkit") {
					t.Errorf("%s imports %s", path, imp)
				}
			}
			return nil
		})
	}
}

func importsOf(t *testing.T, path string) []string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), path, src, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, is := range f.Imports {
		p, _ := strconv.Unquote(is.Path.Value)
		out = append(out, p)
	}
	return out
}
