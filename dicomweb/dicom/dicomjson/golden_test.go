package dicomjson

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

// pydicomDir is shared/testdata/pydicom.
func pydicomDir(t testing.TB) string { return testcorpus.DirT(t) }

func parseFile(t testing.TB, path string) (*part10.File, error) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return part10.Parse(context.Background(), fh, st.Size(), part10.DefaultLimits())
}

func encodeFile(t testing.TB, f *part10.File) []byte {
	t.Helper()
	var buf bytes.Buffer
	opt := Options{BulkURI: bulkURI, Extra: []Extra{StringExtra(0x00083002, "UI", f.TransferSyntax.UID)}}
	if err := EncodeDataSet(&buf, f, f.DataSet, opt); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGolden encodes every parseable pydicom file and compares the result
// with testdata/golden (go test -update rewrites it).
func TestGolden(t *testing.T) {
	root := pydicomDir(t)
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".dcm") || strings.HasPrefix(d.Name(), "DICOMDIR")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	encoded := 0
	seen := map[string]bool{}
	for _, p := range files {
		rel, _ := filepath.Rel(root, p)
		name := strings.ReplaceAll(filepath.ToSlash(rel), "/", "_")
		name = strings.TrimSuffix(name, ".dcm") + ".json"
		seen[name] = true
		t.Run(rel, func(t *testing.T) {
			f, err := parseFile(t, p)
			if err != nil {
				t.Skipf("not parseable: %v", err)
			}
			encoded++
			out := encodeFile(t, f)
			checkModel(t, out)
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", " "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			golden := filepath.Join("testdata", "golden", name)
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("output differs from %s (run go test -update and review the diff)", golden)
			}
		})
	}
	if encoded < 85 {
		t.Errorf("only %d of %d files encoded", encoded, len(files))
	}
	if !*update {
		// A golden file without its DICOM file is stale.
		entries, _ := os.ReadDir(filepath.Join("testdata", "golden"))
		for _, e := range entries {
			if !seen[e.Name()] {
				t.Errorf("stale golden file %s", e.Name())
			}
		}
	}
}

// checkModel checks the output is valid DICOM JSON: valid JSON, keys of 8
// uppercase hex digits in ascending order, every attribute with a vr and at
// most one of Value, InlineBinary, BulkDataURI; and that it round-trips
// through encoding/json.
func checkModel(t *testing.T, out []byte) {
	t.Helper()
	if !json.Valid(out) {
		t.Fatalf("invalid JSON: %.200s", out)
	}
	var obj map[string]any
	if err := json.Unmarshal(out, &obj); err != nil {
		t.Fatal(err)
	}
	again, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var obj2 map[string]any
	if err := json.Unmarshal(again, &obj2); err != nil || !reflect.DeepEqual(obj, obj2) {
		t.Fatalf("does not round-trip: %v", err)
	}
	checkKeysOrdered(t, out)
	var walk func(o map[string]any)
	walk = func(o map[string]any) {
		for k, v := range o {
			if len(k) != 8 || strings.ToUpper(k) != k || strings.Trim(k, "0123456789ABCDEF") != "" {
				t.Errorf("bad key %q", k)
			}
			a, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%s: not an object", k)
			}
			vr, _ := a["vr"].(string)
			if len(vr) != 2 {
				t.Errorf("%s: bad vr %v", k, a["vr"])
			}
			n := 0
			for _, f := range []string{"Value", "InlineBinary", "BulkDataURI"} {
				if _, ok := a[f]; ok {
					n++
				}
			}
			if n > 1 || len(a) > 2 {
				t.Errorf("%s: %v", k, a)
			}
			if vr == "SQ" {
				items, _ := a["Value"].([]any)
				for _, it := range items {
					walk(it.(map[string]any))
				}
			}
		}
	}
	walk(obj)
}

// checkKeysOrdered verifies the attribute keys of every object appear in
// ascending order (F.2.2), with a token scan of the raw output.
func checkKeysOrdered(t *testing.T, out []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(out))
	type frame struct {
		obj     bool
		last    string
		wantKey bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if len(stack) > 0 && stack[len(stack)-1].obj && stack[len(stack)-1].wantKey {
			top := &stack[len(stack)-1]
			if k, ok := tok.(string); ok {
				if len(k) == 8 && k <= top.last {
					t.Errorf("key %s after %s", k, top.last)
				}
				if len(k) == 8 {
					top.last = k
				}
				top.wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{obj: true, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].wantKey = true
		}
	}
}

// pnString rebuilds "Alphabetic=Ideographic=Phonetic" from a PN value
// object, trailing empty groups dropped.
func pnString(v map[string]any) string {
	g := []string{}
	for _, k := range []string{"Alphabetic", "Ideographic", "Phonetic"} {
		s, _ := v[k].(string)
		g = append(g, s)
	}
	for len(g) > 0 && g[len(g)-1] == "" {
		g = g[:len(g)-1]
	}
	return strings.Join(g, "=")
}

// TestCharsetFiles checks every name of charset_files/FileInfo.txt (as
// pydicom decodes them) in the JSON of its file.
func TestCharsetFiles(t *testing.T) {
	dir := filepath.Join(pydicomDir(t), "charset_files")
	tests := []struct {
		file string
		path []string // attribute keys, item index 0 implied after an SQ
		want []string
	}{
		{"chrArab", []string{"00100010"}, []string{"قباني^لنزار"}},
		{"chrFren", []string{"00100010"}, []string{"Buc^Jérôme"}},
		{"chrFrenMulti", []string{"00100010"}, []string{"Buc^Jérôme"}},
		{"chrFrenMulti", []string{"00101001"}, []string{"Buc^Jérôme", "Buc^Jérôme"}},
		{"chrGerm", []string{"00100010"}, []string{"Äneas^Rüdiger"}},
		{"chrGreek", []string{"00100010"}, []string{"Διονυσιος"}},
		{"chrH31", []string{"00100010"}, []string{"Yamada^Tarou=山田^太郎=やまだ^たろう"}},
		{"chrH32", []string{"00100010"}, []string{"ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"}},
		{"chrHbrw", []string{"00100010"}, []string{"שרון^דבורה"}},
		{"chrI2", []string{"00100010"}, []string{"Hong^Gildong=洪^吉洞=홍^길동"}},
		{"chrJapMulti", []string{"00100010"}, []string{"やまだ^たろう"}},
		{"chrJapMulti", []string{"00101001"}, []string{"やまだ^たろう", "やまだ^たろう"}},
		{"chrJapMultiExplicitIR6", []string{"00100010"}, []string{"やまだ^たろう"}},
		{"chrKoreanMulti", []string{"00100010"}, []string{"김희중"}},
		{"chrRuss", []string{"00100010"}, []string{"Люкceмбypг"}},
		{"chrX1", []string{"00100010"}, []string{"Wang^XiaoDong=王^小東"}},
		{"chrX2", []string{"00100010"}, []string{"Wang^XiaoDong=王^小东"}},
		{"chrSQEncoding", []string{"00321064", "00100010"}, []string{"ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"}},
		{"chrSQEncoding1", []string{"00321064", "00100010"}, []string{"ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"}},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+strings.Join(tt.path, "."), func(t *testing.T) {
			f, err := parseFile(t, filepath.Join(dir, tt.file+".dcm"))
			if err != nil {
				t.Fatal(err)
			}
			var obj map[string]any
			if err := json.Unmarshal(encodeFile(t, f), &obj); err != nil {
				t.Fatal(err)
			}
			var attr map[string]any
			for i, k := range tt.path {
				attr, _ = obj[k].(map[string]any)
				if attr == nil {
					t.Fatalf("%s missing", k)
				}
				if i < len(tt.path)-1 {
					obj = attr["Value"].([]any)[0].(map[string]any)
				}
			}
			var got []string
			for _, v := range attr["Value"].([]any) {
				got = append(got, pnString(v.(map[string]any)))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestBigEndian compares the JSON of the Explicit VR Big Endian versions
// of pydicom files with their little endian originals: every number, AT
// and InlineBinary of OW/OF/OD/OL/OV must come out the same.
func TestBigEndian(t *testing.T) {
	dir := filepath.Join(pydicomDir(t), "test_files")
	for _, pair := range [][2]string{
		{"MR_small.dcm", "MR_small_bigendian.dcm"},
		{"rtdose_1frame.dcm", "rtdose_expb_1frame.dcm"},
	} {
		t.Run(pair[1], func(t *testing.T) {
			var objs [2]map[string]any
			for i, name := range pair {
				f, err := parseFile(t, filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if i == 1 && !f.TransferSyntax.BigEndian {
					t.Fatalf("%s is not big endian", name)
				}
				if err := json.Unmarshal(encodeFile(t, f), &objs[i]); err != nil {
					t.Fatal(err)
				}
				delete(objs[i], "00083002") // the transfer syntax differs
			}
			numbers := 0
			for k, a := range objs[0] {
				b, ok := objs[1][k]
				if !ok {
					t.Errorf("%s missing in the big endian file", k)
					continue
				}
				switch a.(map[string]any)["vr"] {
				case "US", "SS", "UL", "SL", "FL", "FD", "AT", "OW":
					numbers++
				}
				if !reflect.DeepEqual(a, b) {
					t.Errorf("%s: little endian %v, big endian %v", k, a, b)
				}
			}
			if numbers < 5 {
				t.Errorf("only %d binary attributes compared", numbers)
			}
		})
	}
}

func BenchmarkEncodeDataSet(b *testing.B) {
	f, err := parseFile(b, filepath.Join(pydicomDir(b), "test_files", "CT_small.dcm"))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d top-level attributes", len(f.DataSet.Elements))
	opt := Options{BulkURI: bulkURI}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := EncodeDataSet(&buf, f, f.DataSet, opt); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}
