package dimse

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/query"
	"github.com/minipacs/minipacs/dicomweb/archive/retrieve"
	"github.com/minipacs/minipacs/dicomweb/dicom/charset"
	"github.com/minipacs/minipacs/dicomweb/dicom/dicomjson"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/index"
)

// findFiles are the instances the C-FIND tests search: several patients,
// studies, modalities and character sets.
var findFiles = []string{
	"CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "test-SR.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm",
	"waveform_ecg.dcm", "rtdose.dcm", "reportsi.dcm", "liver_1frame.dcm",
	"charset_files/chrFren.dcm", "charset_files/chrGerm.dcm", "charset_files/chrX1.dcm", "charset_files/chrRuss.dcm",
}

// findAnswer is one C-FIND answer as findscu wrote it.
type findAnswer struct {
	charset []string
	values  map[uint32]string // decoded, values joined by '\'
	steps   string            // the values of the first item of (0040,0100), joined by '|'
}

// findscu runs DCMTK findscu with -X and reads its answers.
func findscu(t *testing.T, port, model string, keys ...string) ([]findAnswer, string) {
	t.Helper()
	dir := t.TempDir()
	args := []string{"-v", model, "-aet", "FINDER", "-aec", "MINIPACS", "-X", "-od", dir}
	for _, k := range keys {
		args = append(args, "-k", k)
	}
	out, err := run(t, "findscu", append(args, "127.0.0.1", port)...)
	if err != nil {
		t.Fatalf("findscu %v: %v\n%s", keys, err, out)
	}
	ents, _ := os.ReadDir(dir)
	var answers []findAnswer
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		f, err := part10.Parse(context.Background(), strings.NewReader(string(b)), int64(len(b)), part10.Limits{})
		if err != nil {
			t.Fatalf("answer %s: %v", e.Name(), err)
		}
		dec, err := charset.New(f.CharacterSet)
		if err != nil {
			t.Fatalf("answer %s: character set %v: %v", e.Name(), f.CharacterSet, err)
		}
		a := findAnswer{charset: f.CharacterSet, values: map[uint32]string{}}
		for _, el := range f.DataSet.Elements {
			a.values[uint32(el.Tag)] = strings.Join(dicomjson.Values(f, dec, el), `\`)
			if el.Tag == 0x00400100 && len(el.Items) > 0 {
				for _, se := range el.Items[0].Elements {
					a.steps += strings.Join(dicomjson.Values(f, dec, se), `\`) + "|"
				}
			}
		}
		answers = append(answers, a)
	}
	return answers, out
}

// qido runs the same search over the QIDO-RS rules (query.Parse) and
// returns the values of tag in its matches.
func qido(t *testing.T, a *archive, level index.Level, raw string, tag uint32) []string {
	t.Helper()
	req, err := query.Parse(level, "", "", raw, query.Options{})
	if err != nil {
		t.Fatalf("qido %s: %v", raw, err)
	}
	q := req.Query
	q.Encoded = false
	var out []string
	err = a.idx.Search(context.Background(), q, func(res *index.Result) error {
		v := ""
		for l := index.LevelStudy; l <= level; l++ {
			for _, at := range res.Attrs(l) {
				if at.Tag == tag && len(at.Values) > 0 {
					v = at.Values[0]
				}
			}
		}
		out = append(out, v) // a patient without PatientID is one too
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestFindSCU: DCMTK findscu with the Study Root and Patient Root models at
// every level gets the same matches as the same query over QIDO-RS, with
// the requested keys filled.
func TestFindSCU(t *testing.T) {
	a := newArchive(t)
	files := a.load(t, findFiles...)
	port, rec := qrServer(t, a, "FINDER 127.0.0.1 - find\n")
	ct := files[0]
	const (
		tagStudy    = uint32(part10.TagStudyInstanceUID)
		tagSeries   = uint32(part10.TagSeriesInstanceUID)
		tagSOP      = uint32(part10.TagSOPInstanceUID)
		tagPatient  = uint32(part10.TagPatientID)
		tagName     = 0x00100010
		tagModality = 0x00080060
	)
	for _, tc := range []struct {
		name  string
		model string
		keys  []string
		level index.Level
		qido  string // the same search as a QIDO-RS query string
		tag   uint32 // compared between the two
	}{
		{"study all", "-S", []string{"QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientName"}, index.LevelStudy, "", tagStudy},
		{"study by date range", "-S", []string{"QueryRetrieveLevel=STUDY", "StudyInstanceUID", "StudyDate=20000101-20101231"}, index.LevelStudy, "StudyDate=20000101-20101231", tagStudy},
		{"study by name wildcard", "-S", []string{"QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientName=c*"}, index.LevelStudy, "PatientName=c*", tagStudy},
		{"study by modality in study", "-S", []string{"QueryRetrieveLevel=STUDY", "StudyInstanceUID", `ModalitiesInStudy=MR\CT`}, index.LevelStudy, "ModalitiesInStudy=MR%5CCT", tagStudy},
		{"series all", "-S", []string{"QueryRetrieveLevel=SERIES", "SeriesInstanceUID", "Modality"}, index.LevelSeries, "", tagSeries},
		{"series of a study", "-S", []string{"QueryRetrieveLevel=SERIES", "StudyInstanceUID=" + ct.study, "SeriesInstanceUID", "Modality"}, index.LevelSeries, "StudyInstanceUID=" + ct.study, tagSeries},
		{"series by modality", "-S", []string{"QueryRetrieveLevel=SERIES", "SeriesInstanceUID", "Modality=MR"}, index.LevelSeries, "Modality=MR", tagSeries},
		{"images of a series", "-S", []string{"QueryRetrieveLevel=IMAGE", "StudyInstanceUID=" + ct.study, "SeriesInstanceUID=" + ct.series, "SOPInstanceUID", "InstanceNumber"}, index.LevelInstance, "StudyInstanceUID=" + ct.study + "&SeriesInstanceUID=" + ct.series, tagSOP},
		{"images by UID list", "-S", []string{"QueryRetrieveLevel=IMAGE", "SOPInstanceUID=" + files[1].sop + `\` + files[2].sop}, index.LevelInstance, "SOPInstanceUID=" + files[1].sop + "," + files[2].sop, tagSOP},
		{"patient root study", "-P", []string{"QueryRetrieveLevel=STUDY", "PatientID=" + "*", "StudyInstanceUID"}, index.LevelStudy, "", tagStudy},
		{"patient root image", "-P", []string{"QueryRetrieveLevel=IMAGE", "SOPInstanceUID", "SOPClassUID=" + ct.sopClass}, index.LevelInstance, "SOPClassUID=" + ct.sopClass, tagSOP},
		{"patients", "-P", []string{"QueryRetrieveLevel=PATIENT", "PatientID", "PatientName"}, index.LevelStudy, "", tagPatient},
		{"patients by name", "-P", []string{"QueryRetrieveLevel=PATIENT", "PatientID", "PatientName=*^*"}, index.LevelStudy, "PatientName=*%5E*", tagPatient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answers, out := findscu(t, port, tc.model, tc.keys...)
			var got []string
			for _, ans := range answers {
				got = append(got, strings.SplitN(ans.values[tc.tag], `\`, 2)[0])
			}
			slices.Sort(got)
			want := qido(t, a, tc.level, tc.qido, tc.tag)
			if len(want) == 0 {
				t.Fatalf("the QIDO search matches nothing: a useless case")
			}
			if tc.tag != tagPatient && len(got) != len(slices.Compact(slices.Clone(got))) {
				t.Errorf("an entity answered twice: %v", got)
			}
			if !slices.Equal(slices.Compact(got), want) {
				t.Errorf("C-FIND matches %v\nQIDO matches   %v\n%s", got, want, out)
			}
			for _, ans := range answers {
				if tc.level == index.LevelSeries {
					if _, ok := ans.values[tagModality]; !ok {
						t.Errorf("answer without the requested Modality")
					}
				}
				if strings.Contains(strings.Join(tc.keys, " "), "PatientName") {
					if _, ok := ans.values[tagName]; !ok {
						t.Errorf("answer without the requested PatientName")
					}
				}
			}
		})
	}
	rec.mu.Lock()
	if len(rec.queries) == 0 || rec.queries[0].CallingAE != "FINDER" {
		t.Errorf("audit: %d queries", len(rec.queries))
	}
	rec.mu.Unlock()
}

// TestFindCharset: a Latin-1 query (ISO_IR 100) matches names stored in
// Latin-1 and in UTF-8; answers come back in Latin-1 when every value
// fits, else in UTF-8 (ISO_IR 192), and decode to the stored names.
func TestFindCharset(t *testing.T) {
	a := newArchive(t)
	a.load(t, "charset_files/chrFren.dcm", "charset_files/chrGerm.dcm", "charset_files/chrX1.dcm", "CT_small.dcm")
	port, _ := qrServer(t, a, "FINDER 127.0.0.1 - find\n")
	for _, tc := range []struct {
		name    string
		keys    []string
		want    string // PatientName of the single match
		charset string
	}{
		{"latin-1 exact", []string{"SpecificCharacterSet=ISO_IR 100", "PatientName=Buc^J\xe9r\xf4me"}, "Buc^Jérôme", "ISO_IR 100"},
		{"latin-1 wildcard", []string{"SpecificCharacterSet=ISO_IR 100", "PatientName=\xc4neas*"}, "Äneas^Rüdiger", "ISO_IR 100"},
		{"answer needs UTF-8", []string{"SpecificCharacterSet=ISO_IR 100", "PatientName=Wang*"}, "Wang^XiaoDong=王^小東", "ISO_IR 192"},
		{"utf-8 query", []string{"SpecificCharacterSet=ISO_IR 192", "PatientName=Buc^Jérôme"}, "Buc^Jérôme", "ISO_IR 192"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := append([]string{"QueryRetrieveLevel=STUDY", "StudyInstanceUID"}, tc.keys...)
			answers, out := findscu(t, port, "-S", keys...)
			if len(answers) != 1 {
				t.Fatalf("%d answers, want 1\n%s", len(answers), out)
			}
			ans := answers[0]
			if got := ans.values[0x00100010]; got != tc.want {
				t.Errorf("PatientName %q, want %q", got, tc.want)
			}
			if strings.Join(ans.charset, `\`) != tc.charset {
				t.Errorf("SpecificCharacterSet %v, want %s", ans.charset, tc.charset)
			}
		})
	}
}

// loadCopies ingests n copies of a corpus file, each under its own SOP
// Instance UID (same length, last digits changed), in one batch.
func (a *archive) loadCopies(t *testing.T, name string, n int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpus(t), name))
	if err != nil {
		t.Fatal(err)
	}
	f, err := part10.Parse(context.Background(), bytes.NewReader(b), int64(len(b)), part10.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	sop := f.DataSet.String(part10.TagSOPInstanceUID)
	ctx := context.Background()
	batch := a.ing.Begin(ctx, "")
	for i := range n {
		uid := fmt.Sprintf("%s%05d", sop[:len(sop)-5], i)
		if err := batch.Add(ctx, bytes.NewReader(bytes.ReplaceAll(b, []byte(sop), []byte(uid)))); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range batch.Commit(ctx) {
		if r.Failure != 0 {
			t.Fatalf("copy: 0x%04x %v", r.Failure, r.Err)
		}
	}
}

// TestFindCancel: a C-CANCEL-RQ sent right behind the C-FIND-RQ stops the
// search: the final status is Cancel (0xFE00) after fewer answers than
// matches, and the association goes on (a second C-FIND answers whole).
func TestFindCancel(t *testing.T) {
	const n = 400
	a := newArchive(t)
	a.loadCopies(t, "CT_small.dcm", n)
	_, addr := startServer(t, Config{Ingester: a.ing, Index: a.idx, Retriever: retrieve.New(a.idx, a.store), Policy: &Policy{AcceptAny: true}})
	peer, err := New(Config{Ingester: a.ing, AETitle: "CANCELLER", Policy: &Policy{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := peer.dialRequestor(ctx, addr, "MINIPACS", []proposal{{StudyRootFind, []string{part10.ExplicitVRLittleEndian}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close(nil)
	var ident dsWriter
	ident.explicit = true
	ident.str(0x00080018, "UI", "")
	ident.str(0x00080052, "CS", "IMAGE")
	find := func(cancel bool) (pending int, final uint16) {
		c.msgID++
		id := c.msgID
		if err := c.w.message(1, &Command{Field: CFindRQ, MessageID: id, AffectedSOPClass: StudyRootFind}, bytes.NewReader(ident.b)); err != nil {
			t.Fatal(err)
		}
		if cancel {
			if err := c.w.message(1, &Command{Field: CCancelRQ, Raw: map[uint32][]byte{tagRespondedTo: usValue(id)}}, nil); err != nil {
				t.Fatal(err)
			}
		}
		c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		for {
			rsp, _, _, err := c.r.readMessage()
			if err != nil {
				t.Fatal(err)
			}
			if rsp.Field != CFindRSP || rsp.RespondedTo != id {
				t.Fatalf("response 0x%04x to %d", rsp.Field, rsp.RespondedTo)
			}
			if rsp.Status != StatusPending {
				return pending, rsp.Status
			}
			pending++
		}
	}
	if pending, final := find(true); final != StatusCancel || pending >= n {
		t.Errorf("cancelled C-FIND: %d answers of %d, final %s", pending, n, statusText(final))
	}
	if pending, final := find(false); final != StatusSuccess || pending != n {
		t.Errorf("C-FIND after the cancel: %d answers of %d, final %s", pending, n, statusText(final))
	}
}

// TestFindRefusals: an identifier without a valid level, or with a key of
// a lower level that has a value, is refused with 0xA900; a peer without
// the find operation gets its presentation context rejected.
func TestFindRefusals(t *testing.T) {
	a := newArchive(t)
	a.load(t, "CT_small.dcm")
	port, _ := qrServer(t, a, "FINDER 127.0.0.1 - find\nSTORER 127.0.0.1 - store\n")
	for _, keys := range [][]string{
		{"QueryRetrieveLevel=WARD", "StudyInstanceUID"},
		{"QueryRetrieveLevel=STUDY", "SOPInstanceUID=1.2.3"},
		{"QueryRetrieveLevel=STUDY", "StudyDate=2020-01-01"},
	} {
		args := []string{"-v", "-S", "-aet", "FINDER", "-aec", "MINIPACS"}
		for _, k := range keys {
			args = append(args, "-k", k)
		}
		out, _ := run(t, "findscu", append(args, "127.0.0.1", port)...)
		if !strings.Contains(out, "DataSetDoesNotMatchSOPClass") && !strings.Contains(out, "0xa900") {
			t.Errorf("%v: want 0xA900\n%s", keys, out)
		}
	}
	out, err := run(t, "findscu", "-v", "-S", "-aet", "STORER", "-aec", "MINIPACS", "-k", "QueryRetrieveLevel=STUDY", "127.0.0.1", port)
	if err == nil && !strings.Contains(out, "No Acceptable Presentation Contexts") && !strings.Contains(out, "no acceptable") {
		t.Errorf("a store-only peer could search:\n%s", out)
	}
}
