package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// checkQIDO compares QIDO answers with golden files and checks their
// counts against what was stored.
func checkQIDO(t *testing.T, c *corpusRun) {
	mr := c.out["test_files/dicomdirtests/98892003/MR2/6273"]
	if mr == nil || !mr.stored {
		t.Fatal("dicomdirtests/98892003/MR2/6273 not stored")
	}
	studies, series := map[string]bool{}, map[string]bool{}
	nSeriesOfMR := map[string]bool{}
	for _, f := range c.stored() {
		o := c.out[f.rel]
		studies[o.study] = true
		series[o.series] = true
		if o.study == mr.study {
			nSeriesOfMR[o.series] = true
		}
	}
	queries := []struct {
		name, path string
		count      int // expected number of results; -1: not checked
	}{
		{"studies_all", "/studies?includefield=all", len(studies)},
		{"studies_patientname", "/studies?PatientName=Doe%5EPeter", -1},
		{"studies_patientname_wildcard", "/studies?PatientName=doe*&includefield=00081030", -1},
		{"series_all", "/series?includefield=all", len(series)},
		{"instances_all", "/instances?includefield=all", len(c.stored())},
		{"study_series", "/studies/" + mr.study + "/series?includefield=all", len(nSeriesOfMR)},
		{"ohif_studies", "/studies?limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060", min(101, len(studies))},
	}
	for _, q := range queries {
		t.Run(q.name, func(t *testing.T) {
			r := get(t, c.s.url(q.path), acceptJSON)
			if !expectStatus(t, q.path, r, 200) {
				return
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/dicom+json") {
				t.Errorf("%s: Content-Type %q", q.path, ct)
			}
			if w := r.header.Get("Warning"); w != "" {
				t.Logf("%s: Warning: %s", q.path, w)
			}
			norm, n, err := normalizeQIDO(r.body, c.s.base)
			if err != nil {
				t.Fatalf("%s: %v: %.500s", q.path, err, r.body)
			}
			if q.count >= 0 && n != q.count {
				t.Errorf("%s: %d results, want %d", q.path, n, q.count)
			}
			checkGolden(t, "e2e_qido_"+q.name+".golden.json", norm)
		})
	}
}

// normalizeQIDO makes a QIDO answer stable: the server's host:port becomes
// {host}, results are sorted by study, series and instance UID, and the
// values of set-like attributes (ModalitiesInStudy, SOPClassesInStudy) are
// sorted.
func normalizeQIDO(body []byte, base string) ([]byte, int, error) {
	body = bytes.ReplaceAll(body, []byte(base), []byte("http://{host}"))
	var res []map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&res); err != nil {
		return nil, 0, fmt.Errorf("not a JSON array: %w", err)
	}
	key := func(m map[string]any) string {
		var k []string
		for _, tag := range []string{"0020000D", "0020000E", "00080018"} {
			a, _ := m[tag].(map[string]any)
			v, _ := a["Value"].([]any)
			if len(v) > 0 {
				s, _ := v[0].(string)
				k = append(k, s)
			} else {
				k = append(k, "")
			}
		}
		return strings.Join(k, "|")
	}
	for _, m := range res {
		for _, tag := range []string{"00080061", "00080062"} {
			a, _ := m[tag].(map[string]any)
			if v, ok := a["Value"].([]any); ok {
				sort.Slice(v, func(i, j int) bool { return fmt.Sprint(v[i]) < fmt.Sprint(v[j]) })
			}
		}
	}
	sort.SliceStable(res, func(i, j int) bool { return key(res[i]) < key(res[j]) })
	// One result per line, keys sorted: diffs show which result changed.
	var out bytes.Buffer
	out.WriteString("[\n")
	for i, m := range res {
		b, err := json.Marshal(m)
		if err != nil {
			return nil, 0, err
		}
		out.Write(b)
		if i < len(res)-1 {
			out.WriteByte(',')
		}
		out.WriteByte('\n')
	}
	out.WriteString("]\n")
	return out.Bytes(), len(res), nil
}
