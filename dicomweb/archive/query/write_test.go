package query

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/index"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const base = "http://pacs.example:8042/dicomweb"

func attr(tag uint32, vr string, values []string, js string) index.Attr {
	return index.Attr{Tag: tag, VR: vr, Values: values, JSON: []byte(js)}
}

// fixture is one CT instance as the index would return it for an instance
// search: study, series and instance levels filled.
func fixture() *index.Result {
	return &index.Result{
		Study: []index.Attr{
			attr(0x00080005, "CS", []string{"ISO_IR 192"}, `{"vr":"CS","Value":["ISO_IR 192"]}`),
			attr(0x00080020, "DA", []string{"20240115"}, `{"vr":"DA","Value":["20240115"]}`),
			attr(0x00080030, "TM", []string{"093000"}, `{"vr":"TM","Value":["093000"]}`),
			attr(0x00080050, "SH", []string{"ACC42"}, `{"vr":"SH","Value":["ACC42"]}`),
			attr(0x00080061, "CS", []string{"CT", "SR"}, `{"vr":"CS","Value":["CT","SR"]}`),
			attr(0x00080062, "UI", []string{"1.2.840.10008.5.1.4.1.1.2"}, `{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.2"]}`),
			attr(0x00080090, "PN", nil, `{"vr":"PN"}`),
			attr(0x00081030, "LO", []string{"CT Thorax"}, `{"vr":"LO","Value":["CT Thorax"]}`),
			attr(0x00100010, "PN", []string{"山田^太郎"}, `{"vr":"PN","Value":[{"Alphabetic":"Yamada^Tarou","Ideographic":"山田^太郎"}]}`),
			attr(0x00100020, "LO", []string{"PAT-001"}, `{"vr":"LO","Value":["PAT-001"]}`),
			attr(0x00100030, "DA", []string{"19700101"}, `{"vr":"DA","Value":["19700101"]}`),
			attr(0x00100040, "CS", []string{"M"}, `{"vr":"CS","Value":["M"]}`),
			attr(0x00101010, "AS", []string{"054Y"}, `{"vr":"AS","Value":["054Y"]}`),
			attr(0x0020000D, "UI", []string{"1.2.3"}, `{"vr":"UI","Value":["1.2.3"]}`),
			attr(0x00200010, "SH", []string{"S1"}, `{"vr":"SH","Value":["S1"]}`),
			attr(0x00201206, "IS", []string{"2"}, `{"vr":"IS","Value":[2]}`),
			attr(0x00201208, "IS", []string{"120"}, `{"vr":"IS","Value":[120]}`),
		},
		Series: []index.Attr{
			attr(0x00080005, "CS", []string{"ISO_IR 192"}, `{"vr":"CS","Value":["ISO_IR 192"]}`),
			attr(0x00080060, "CS", []string{"CT"}, `{"vr":"CS","Value":["CT"]}`),
			attr(0x00080070, "LO", []string{"ACME"}, `{"vr":"LO","Value":["ACME"]}`),
			attr(0x0008103E, "LO", []string{"Axial 1mm"}, `{"vr":"LO","Value":["Axial 1mm"]}`),
			attr(0x0020000E, "UI", []string{"1.2.3.4"}, `{"vr":"UI","Value":["1.2.3.4"]}`),
			attr(0x00200011, "IS", []string{"3"}, `{"vr":"IS","Value":[3]}`),
			attr(0x00201209, "IS", []string{"119"}, `{"vr":"IS","Value":[119]}`),
		},
		Instance: []index.Attr{
			attr(0x00080008, "CS", []string{"ORIGINAL", "PRIMARY", "AXIAL"}, `{"vr":"CS","Value":["ORIGINAL","PRIMARY","AXIAL"]}`),
			attr(0x00080016, "UI", []string{"1.2.840.10008.5.1.4.1.1.2"}, `{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.2"]}`),
			attr(0x00080018, "UI", []string{"1.2.3.4.5"}, `{"vr":"UI","Value":["1.2.3.4.5"]}`),
			attr(0x00200013, "IS", []string{"7"}, `{"vr":"IS","Value":[7]}`),
			attr(0x00280010, "US", []string{"512"}, `{"vr":"US","Value":[512]}`),
			attr(0x00280011, "US", []string{"512"}, `{"vr":"US","Value":[512]}`),
			attr(0x00280100, "US", []string{"16"}, `{"vr":"US","Value":[16]}`),
		},
	}
}

// forLevel trims the fixture to what the index returns for a search at l.
func forLevel(l index.Level) *index.Result {
	r := fixture()
	if l < index.LevelInstance {
		r.Instance = nil
	}
	if l < index.LevelSeries {
		r.Series = nil
	}
	return r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s:\n got %s\nwant %s", path, got, want)
	}
}

// checkObject verifies that b is one JSON object whose keys are 8 hex
// digits in ascending order.
func checkObject(t *testing.T, b []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	prev := ""
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		k := tok.(string)
		if len(k) != 8 || strings.ToUpper(k) != k || k <= prev {
			t.Errorf("key %q after %q: not ascending upper-case tags", k, prev)
		}
		prev = k
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name          string
		level         index.Level
		study, series string
		query         string
		golden        string
		want          map[string]string // tag -> exact JSON
		absent        []string
	}{
		{name: "OHIF study list", level: index.LevelStudy,
			query:  "limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060",
			golden: "study_ohif.json",
			want: map[string]string{
				"00081190": `{"vr":"UR","Value":["http://pacs.example:8042/dicomweb/studies/1.2.3"]}`,
				"00080056": `{"vr":"CS","Value":["ONLINE"]}`,
				"00081030": `{"vr":"LO","Value":["CT Thorax"]}`,
				"00080201": `{"vr":"SH"}`,
				"00080090": `{"vr":"PN"}`,
			},
			absent: []string{"00080060", "00101010", "0020000E"}},
		{name: "study includefield all", level: index.LevelStudy, query: "includefield=all", golden: "study_all.json",
			want:   map[string]string{"00101010": `{"vr":"AS","Value":["054Y"]}`, "00080062": `{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.2"]}`},
			absent: []string{"00080060"}},
		{name: "series in study", level: index.LevelSeries, study: "1.2.3", query: "includefield=00080070", golden: "series_in_study.json",
			want: map[string]string{
				"00081190": `{"vr":"UR","Value":["http://pacs.example:8042/dicomweb/studies/1.2.3/series/1.2.3.4"]}`,
				"0020000D": `{"vr":"UI","Value":["1.2.3"]}`,
				"00400275": `{"vr":"SQ"}`,
				"00080070": `{"vr":"LO","Value":["ACME"]}`,
			},
			absent: []string{"00100010", "00080056", "00080020"}},
		{name: "all series", level: index.LevelSeries, query: "PatientID=PAT-001", golden: "series_all.json",
			want: map[string]string{
				"00100010": `{"vr":"PN","Value":[{"Alphabetic":"Yamada^Tarou","Ideographic":"山田^太郎"}]}`,
				"00081190": `{"vr":"UR","Value":["http://pacs.example:8042/dicomweb/studies/1.2.3/series/1.2.3.4"]}`,
			}},
		{name: "instances in series", level: index.LevelInstance, study: "1.2.3", series: "1.2.3.4", golden: "instance_in_series.json",
			want: map[string]string{
				"00081190": `{"vr":"UR","Value":["http://pacs.example:8042/dicomweb/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5"]}`,
				"00280008": `{"vr":"IS"}`,
				"0020000E": `{"vr":"UI","Value":["1.2.3.4"]}`,
			},
			absent: []string{"00080060", "00100010", "00080008"}},
		{name: "all instances with all", level: index.LevelInstance, query: "includefield=all&StudyDescription=", golden: "instance_all.json",
			want: map[string]string{
				"00080008": `{"vr":"CS","Value":["ORIGINAL","PRIMARY","AXIAL"]}`,
				"00080070": `{"vr":"LO","Value":["ACME"]}`,
				"00101010": `{"vr":"AS","Value":["054Y"]}`,
			}},
		{name: "private include absent", level: index.LevelInstance, study: "1.2.3", series: "1.2.3.4",
			query: "includefield=00091001&includefield=ImageType", golden: "instance_private.json",
			want:   map[string]string{"00080008": `{"vr":"CS","Value":["ORIGINAL","PRIMARY","AXIAL"]}`},
			absent: []string{"00091001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(tt.level, tt.study, tt.series, tt.query, opts)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := r.Write(&buf, base+"/", forLevel(tt.level)); err != nil {
				t.Fatal(err)
			}
			m := checkObject(t, buf.Bytes())
			for k, v := range tt.want {
				if string(m[k]) != v {
					t.Errorf("%s = %s, want %s", k, m[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := m[k]; ok {
					t.Errorf("%s present", k)
				}
			}
			for _, f := range r.Include.Fields {
				if _, ok := m[f.Hex()]; !ok && f.VR != "" {
					t.Errorf("selected %s missing", f.Hex())
				}
			}
			golden(t, tt.golden, buf.Bytes())
		})
	}
}

func TestArrayWriter(t *testing.T) {
	r, err := Parse(index.LevelStudy, "", "", "", opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 3} {
		var buf bytes.Buffer
		aw := r.NewArrayWriter(&buf, base)
		for i := 0; i < n; i++ {
			if err := aw.Write(forLevel(index.LevelStudy)); err != nil {
				t.Fatal(err)
			}
		}
		if err := aw.Close(); err != nil {
			t.Fatal(err)
		}
		var arr []map[string]json.RawMessage
		if err := json.Unmarshal(buf.Bytes(), &arr); err != nil {
			t.Fatalf("n=%d: %v: %s", n, err, buf.Bytes())
		}
		if len(arr) != n || aw.Count() != n {
			t.Errorf("n=%d: got %d objects, Count %d", n, len(arr), aw.Count())
		}
		if n == 0 && buf.String() != "[]" {
			t.Errorf("empty array = %q", buf.String())
		}
	}
}

type failWriter struct{}

var errWrite = errors.New("disk on fire")

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestWriteErrors(t *testing.T) {
	r, err := Parse(index.LevelInstance, "", "", "", opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Write(failWriter{}, base, fixture()); !errors.Is(err, errWrite) {
		t.Errorf("write error = %v", err)
	}
	noSOP := fixture()
	noSOP.Instance = noSOP.Instance[:2]
	if err := r.Write(&bytes.Buffer{}, base, noSOP); err == nil {
		t.Error("result without SOPInstanceUID written")
	}
	if err := r.Write(&bytes.Buffer{}, base, nil); err == nil {
		t.Error("nil result written")
	}
	// The path's UIDs stand in for missing upper-level attributes.
	r, err = Parse(index.LevelSeries, "1.2.3", "", "", opts)
	if err != nil {
		t.Fatal(err)
	}
	res := forLevel(index.LevelSeries)
	res.Study = nil
	var buf bytes.Buffer
	if err := r.Write(&buf, base, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), base+"/studies/1.2.3/series/1.2.3.4") {
		t.Errorf("retrieve URL missing: %s", buf.String())
	}
}
