package part10

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// libraryParse runs suyashkumar/dicom on a (small, trusted) test file,
// turning its panics into errors. It is a second opinion in tests only.
func libraryParse(path string) (ds dicom.Dataset, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return dicom.ParseFile(path, nil, dicom.SkipPixelData())
}

// TestAgainstLibrary compares, for the files both parsers accept, the top
// level tags and a few identifying string values.
func TestAgainstLibrary(t *testing.T) {
	root := pydicomDir(t)
	compared := 0
	for _, rel := range dicomFiles(t) {
		f, err := parseBytes(readTestFile(t, rel))
		if err != nil {
			continue
		}
		lib, lerr := libraryParse(filepath.Join(root, rel))
		if lerr != nil {
			t.Logf("%s: library fails (%v); not compared", rel, lerr)
			continue
		}
		compared++
		t.Run(rel, func(t *testing.T) {
			var theirs, ours []Tag
			seen := map[Tag]bool{}
			for _, e := range lib.Elements {
				// The library keeps repeated elements; we drop all but the first.
				if tg := Tag(e.Tag.Uint32()); e.Tag.Group != 0x0002 && !seen[tg] {
					seen[tg] = true
					theirs = append(theirs, tg)
				}
			}
			for _, e := range f.DataSet.Elements {
				ours = append(ours, e.Tag)
			}
			if fmt.Sprint(ours) != fmt.Sprint(theirs) {
				t.Errorf("top level tags differ:\n ours    %v\n library %v", ours, theirs)
			}
			for _, tg := range []Tag{TagSOPClassUID, TagSOPInstanceUID, TagStudyInstanceUID,
				TagSeriesInstanceUID, TagPatientID, 0x00080060} {
				e, err := lib.FindElementByTag(tag.Tag{Group: tg.Group(), Element: tg.Element()})
				if err != nil {
					if f.DataSet.Find(tg) != nil {
						t.Errorf("%s: we have it, the library does not", tg)
					}
					continue
				}
				vals, ok := e.Value.GetValue().([]string)
				if !ok || len(vals) == 0 {
					continue
				}
				want := strings.TrimRight(vals[0], " \x00")
				if got := f.DataSet.String(tg); got != want {
					t.Errorf("%s: %q, library %q", tg, got, want)
				}
			}
		})
	}
	if compared < 100 {
		t.Errorf("only %d files compared", compared)
	}
}
