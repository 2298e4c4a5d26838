package query

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/index"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060",
		"00100020=PAT-001",
		"PatientName=Doe%5EJ%2A",
		"PatientName=%E5%B1%B1%E7%94%B0*",
		"StudyDate=20240101-20240131",
		"StudyDate=-20240131&StudyTime=08-1730",
		"AcquisitionDateTime=20240101120000-0500-20240102%2B0100",
		"StudyInstanceUID=1.2.3,1.2.4&StudyInstanceUID=1.2.5",
		"ModalitiesInStudy=CT%5CMR&Modality=CT",
		"includefield=all&00400275.00401001=",
		"limit=100000&offset=abc",
		"InstanceNumber=3%5C4&Rows=512&SliceThickness=1.25e2",
		"PatientName=%22%22&emptyvaluematching=true",
		"%ZZ=1&=&&=x",
	} {
		f.Add(uint8(0), s)
		f.Add(uint8(4), s)
		f.Add(uint8(7), s)
	}
	f.Fuzz(func(t *testing.T, sel uint8, q string) {
		// The valid level/path combinations of the six QIDO paths.
		combos := []struct {
			l             index.Level
			study, series string
		}{
			{index.LevelStudy, "", ""},
			{index.LevelSeries, "", ""},
			{index.LevelSeries, "1.2.3", ""},
			{index.LevelInstance, "", ""},
			{index.LevelInstance, "1.2.3", ""},
			{index.LevelInstance, "1.2.3", "1.2.3.4"},
		}
		c := combos[int(sel)%len(combos)]
		r, err := Parse(c.l, c.study, c.series, q, Options{MaxLimit: 1000})
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("error %v is %T, not *Error", err, err)
			}
			if qe.Msg == "" || strings.ContainsAny(qe.Msg, "\r\n") {
				t.Fatalf("bad message %q", qe.Msg)
			}
			return
		}
		for _, fl := range r.Query.Filters {
			switch fl.Kind {
			case index.MatchSingle, index.MatchWildcard:
				if len(fl.Values) != 1 || fl.Values[0] == "" {
					t.Fatalf("bad filter %+v", fl)
				}
			case index.MatchList:
				if len(fl.Values) < 2 {
					t.Fatalf("bad list %+v", fl)
				}
			case index.MatchRange:
				if fl.Low == "" && fl.High == "" {
					t.Fatalf("bad range %+v", fl)
				}
			}
		}
		if r.Query.Limit < 0 || r.Query.Limit > 1000 || r.Query.Offset < 0 {
			t.Fatalf("limit %d offset %d", r.Query.Limit, r.Query.Offset)
		}
		for _, w := range r.Warnings {
			if strings.ContainsAny(w, "\"\r\n") {
				t.Fatalf("warning %q is not header-safe", w)
			}
		}
		var buf bytes.Buffer
		if err := r.Write(&buf, base, forLevel(c.l)); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if !json.Valid(buf.Bytes()) {
			t.Fatalf("invalid JSON %s", buf.Bytes())
		}
	})
}
