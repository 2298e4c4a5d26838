package indextest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/index"
)

// Differential puts the same random but realistic instances (about a
// hundred studies, several hundred instances) into two empty engines a and
// b, then runs n random QIDO queries on both in three rounds, with patient
// updates and deletions between rounds, and requires identical answers:
// the same results in the same order with the same attributes (read
// through Result.Attrs), and the same put results, errors, counts and
// metadata. The same seed gives the same data and queries.
func Differential(t *testing.T, a, b index.Engine, seed int64, n int) {
	t.Helper()
	ctx := context.Background()
	g := &diffGen{r: rand.New(rand.NewPCG(uint64(seed), 0x5eed))}
	g.generate()
	d := &differ{t: t, a: a, b: b}

	// Puts: in batches through PutMany, with a few duplicates and
	// conflicts among them.
	insts := g.insts
	for i := 0; i < len(insts); i += 40 {
		batch := slices.Clone(insts[i:min(len(insts), i+40)])
		if i > 0 {
			batch = append(batch, insts[g.r.IntN(i)])                         // identical again
			batch = append(batch, Build(g.withContent(g.specs[g.r.IntN(i)]))) // conflict
		}
		ra, ea := a.PutMany(ctx, batch)
		rb, eb := b.PutMany(ctx, batch)
		for j := range batch {
			if ra[j] != rb[j] || !sameErr(ea[j], eb[j]) {
				t.Fatalf("PutMany of %s: %+v, %v; and %+v, %v", batch[j].SOPInstanceUID, ra[j], ea[j], rb[j], eb[j])
			}
		}
	}
	d.compareState(g)
	t.Logf("differential: %d instances in %d studies", len(insts), len(g.studies))

	rounds := 3
	for round := 0; round < rounds; round++ {
		for i := round * n / rounds; i < (round+1)*n/rounds; i++ {
			if !d.query(g.query()) {
				if d.failed++; d.failed >= 10 {
					t.Fatalf("too many differing queries")
				}
			}
		}
		if round == rounds-1 {
			break
		}
		d.changes(g)
		d.compareState(g)
	}
	t.Logf("differential: %d queries, %d with results (%d results)", d.queries, d.answered, d.results)
	if d.queries >= 20 && d.answered < d.queries/5 {
		t.Errorf("differential: only %d of %d queries found anything: the queries compare too little", d.answered, d.queries)
	}
}

// differ compares two engines.
type differ struct {
	t      *testing.T
	a, b   index.Engine
	failed int
	// queries and results count what the queries compared.
	queries, answered, results int
}

func sameErr(x, y error) bool {
	if (x == nil) != (y == nil) {
		return false
	}
	for _, e := range []error{index.ErrInvalid, index.ErrConflict, index.ErrNotFound, index.ErrClosed} {
		if errors.Is(x, e) != errors.Is(y, e) {
			return false
		}
	}
	return true
}

// query runs q on both engines (each with its own random Encoded and
// Reuse) and reports whether they agree.
func (d *differ) query(q index.Query) bool {
	t := d.t
	t.Helper()
	qa, qb := q, q
	qb.Encoded, qb.Reuse = q.Reuse, q.Encoded // the other form on b
	ra, errA := SearchRows(context.Background(), d.a, qa)
	rb, errB := SearchRows(context.Background(), d.b, qb)
	if errA != nil || errB != nil {
		t.Errorf("query %s: errors %v and %v", FormatQuery(q), errA, errB)
		return false
	}
	d.queries++
	if len(ra) > 0 {
		d.answered++
		d.results += len(ra)
	}
	for i := 0; i < max(len(ra), len(rb)); i++ {
		switch {
		case i >= len(ra):
			t.Errorf("query %s: a gives %d results, b %d; b's result %d:%s", FormatQuery(q), len(ra), len(rb), i, FormatRow(rb[i]))
			return false
		case i >= len(rb):
			t.Errorf("query %s: a gives %d results, b %d; a's result %d:%s", FormatQuery(q), len(ra), len(rb), i, FormatRow(ra[i]))
			return false
		}
		if diff := DiffRows(rb[i], ra[i]); diff != "" {
			t.Errorf("query %s: result %d of %d differs (b against a): %s\na:%s\nb:%s", FormatQuery(q), i, len(ra), diff, FormatRow(ra[i]), FormatRow(rb[i]))
			return false
		}
	}
	return true
}

// compareState compares counts, and the refs and metadata of a sample of
// studies.
func (d *differ) compareState(g *diffGen) {
	t := d.t
	t.Helper()
	ctx := context.Background()
	sa, sb := stats(t, d.a), stats(t, d.b)
	if sa != sb {
		t.Fatalf("Stats: a %v, b %v", sa, sb)
	}
	for i := 0; i < 10; i++ {
		st := g.studies[g.r.IntN(len(g.studies))]
		refsA, errA := d.a.Refs(ctx, st, "")
		refsB, errB := d.b.Refs(ctx, st, "")
		if !sameErr(errA, errB) || len(refsA) != len(refsB) {
			t.Fatalf("Refs(%s): %d, %v; and %d, %v", st, len(refsA), errA, len(refsB), errB)
		}
		for j := range refsA {
			x, y := refsA[j], refsB[j]
			if x.SOPInstanceUID != y.SOPInstanceUID || x.SeriesUID != y.SeriesUID || x.ObjectKey != y.ObjectKey || x.SHA256 != y.SHA256 || !bytes.Equal(x.Layout, y.Layout) {
				t.Fatalf("Refs(%s)[%d]: %+v and %+v", st, j, x, y)
			}
		}
		var ma, mb [][]byte
		errA = d.a.Metadata(ctx, st, "", "", func(js []byte) error { ma = append(ma, bytes.Clone(js)); return nil })
		errB = d.b.Metadata(ctx, st, "", "", func(js []byte) error { mb = append(mb, bytes.Clone(js)); return nil })
		if !sameErr(errA, errB) || len(ma) != len(mb) {
			t.Fatalf("Metadata(%s): %d, %v; and %d, %v", st, len(ma), errA, len(mb), errB)
		}
		for j := range ma {
			if !bytes.Equal(ma[j], mb[j]) {
				t.Fatalf("Metadata(%s)[%d]:\na: %s\nb: %s", st, j, ma[j], mb[j])
			}
		}
		pa, errA := d.a.PatientAttrs(ctx, st)
		pb, errB := d.b.PatientAttrs(ctx, st)
		if !sameErr(errA, errB) || DiffAttrs(pb, pa) != "" {
			t.Fatalf("PatientAttrs(%s): %v %v; %v %v", st, pa, errA, pb, errB)
		}
		va, errA := d.a.PatientVersion(ctx, st)
		vb, errB := d.b.PatientVersion(ctx, st)
		if !sameErr(errA, errB) || va.IsZero() != vb.IsZero() {
			t.Fatalf("PatientVersion(%s): %v %v; %v %v", st, va, errA, vb, errB)
		}
	}
}

// changes applies the same patient updates and deletions to both engines.
func (d *differ) changes(g *diffGen) {
	t := d.t
	t.Helper()
	ctx := context.Background()
	for _, u := range g.updates() {
		ca, errA := d.a.UpdatePatient(ctx, u)
		cb, errB := d.b.UpdatePatient(ctx, u)
		slices.Sort(ca)
		slices.Sort(cb)
		if !sameErr(errA, errB) || !slices.Equal(ca, cb) {
			t.Fatalf("UpdatePatient(%+v): %v, %v; and %v, %v", u, ca, errA, cb, errB)
		}
	}
	for _, del := range g.deletions() {
		ka, errA := d.a.Delete(ctx, del[0], del[1], del[2])
		kb, errB := d.b.Delete(ctx, del[0], del[1], del[2])
		if !sameErr(errA, errB) || !slices.Equal(ka, kb) {
			t.Fatalf("Delete(%q): %v, %v; and %v, %v", del, ka, errA, kb, errB)
		}
	}
}

// diffGen generates the data and the queries.
type diffGen struct {
	r *rand.Rand

	specs   []Spec
	insts   []*index.Instance
	studies []string
	// Values present in the data, to draw filter values from.
	names, pids, accessions, dates, times, descs, series, sops []string
	patients                                                   []diffPatient
}

type diffPatient struct {
	id, issuer, name, birth, sex string
}

var (
	diffFamilies = []string{"Müller", "Muller", "MÜLLER", "Doe", "Smith", "García", "Ödegaard", "O'Brien", "Nguyen",
		"Łukasiewicz", "Dupont", "van der Berg", "Lefèvre", "Yamada", "Kim", "Åberg", "Novák", "Smithson"}
	diffGivens = []string{"Hans", "John", "Jane", "José", "Åsa", "Van An", "Zoë", "Zoé", "Søren", "Jiří", "Anna", "Jo", ""}
	diffIdeo   = []string{"ドウ^ジョン", "山田^太郎", "김^민준", "ヤマダ^タロウ"}
	diffMods   = []string{"CT", "MR", "US", "CR", "DX", "PT", "OT", "SR"}
	diffDescs  = []string{"CT HEAD", "MR Brain", "Chest PA", "ABDOMEN", "knee left", "Knee Right", "brain mri", ""}
	diffImage  = [][]string{{"ORIGINAL", "PRIMARY", "AXIAL"}, {"DERIVED", "SECONDARY"}, {"ORIGINAL", "PRIMARY", "LOCALIZER"}, nil}
)

func (g *diffGen) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g *diffGen) chance(p float64) bool { return g.r.Float64() < p }

func (g *diffGen) generate() {
	r := g.r
	for p := 0; p < 40; p++ {
		name := g.pick(diffFamilies)
		if given := g.pick(diffGivens); given != "" {
			name += "^" + given
		}
		switch {
		case g.chance(0.15):
			name += "=" + g.pick(diffIdeo)
		case g.chance(0.05):
			name += "==" + strings.ToUpper(name)
		case g.chance(0.05):
			name = ""
		}
		g.patients = append(g.patients, diffPatient{
			id:     fmt.Sprintf("PID%03d", r.IntN(60)),
			issuer: g.pick([]string{"HOSP", "HOSP", "OTHER", ""}),
			name:   name,
			birth:  fmt.Sprintf("19%02d%02d%02d", 30+r.IntN(70), 1+r.IntN(12), 1+r.IntN(28)),
			sex:    g.pick([]string{"F", "M", "O", ""}),
		})
	}
	for st := 0; st < 100; st++ {
		p := g.patients[r.IntN(len(g.patients))]
		study := fmt.Sprintf("%s.77.%d", UIDRoot, st)
		g.studies = append(g.studies, study)
		date := ""
		if !g.chance(0.1) {
			date = fmt.Sprintf("20%02d%02d%02d", 18+r.IntN(7), 1+r.IntN(12), 1+r.IntN(28))
			if g.chance(0.1) && len(g.dates) > 0 {
				date = g.pick(g.dates) // same day as another study
			}
		}
		tm := ""
		switch r.IntN(5) {
		case 0:
		case 1:
			tm = fmt.Sprintf("%02d%02d", r.IntN(24), r.IntN(60))
		case 2:
			tm = fmt.Sprintf("%02d%02d%02d.%d", r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000))
		default:
			tm = fmt.Sprintf("%02d%02d%02d", r.IntN(24), r.IntN(60), r.IntN(60))
		}
		acc := ""
		if !g.chance(0.2) {
			acc = fmt.Sprintf("%s%05d", g.pick([]string{"ACC", "A", "RIS"}), r.IntN(2000))
		}
		desc := g.pick(diffDescs)
		g.dates, g.times, g.accessions = append(g.dates, date), append(g.times, tm), append(g.accessions, acc)
		g.names, g.pids, g.descs = append(g.names, p.name), append(g.pids, p.id), append(g.descs, desc)
		nSeries := 1 + r.IntN(3)
		for se := 0; se < nSeries; se++ {
			series := fmt.Sprintf("%s.%d", study, se+1)
			g.series = append(g.series, series)
			num := ""
			if !g.chance(0.15) {
				num = fmt.Sprint(1 + r.IntN(4)) // ties possible
			}
			mod := g.pick(diffMods)
			nInst := 1 + r.IntN(5)
			for k := 0; k < nInst; k++ {
				sop := fmt.Sprintf("%s.%d", series, k+1+r.IntN(3)*10)
				if slices.Contains(g.sops, sop) {
					continue
				}
				g.sops = append(g.sops, sop)
				s := DefaultSpec(st)
				s.StudyUID, s.SeriesUID, s.SOPInstanceUID = study, series, sop
				s.SOPClassUID = sopClasses[mod]
				if s.SOPClassUID == "" {
					s.SOPClassUID = CRImageStorage
				}
				s.PatientID, s.IssuerOfPatientID, s.PatientName = p.id, p.issuer, p.name
				s.PatientBirthDate, s.PatientSex = p.birth, p.sex
				s.StudyDate, s.StudyTime, s.AccessionNumber, s.StudyDescription = date, tm, acc, desc
				s.Modality, s.SeriesNumber, s.SeriesDescription = mod, num, "Series "+mod
				s.InstanceNumber = ""
				if !g.chance(0.15) {
					s.InstanceNumber = fmt.Sprint(r.IntN(6))
				}
				s.ImageType = diffImage[r.IntN(len(diffImage))]
				if date != "" && g.chance(0.7) {
					s.ExtraInstance = []index.Attr{Attr(tAcqDateTime, "DT", date+tmDigits(tm))}
				}
				g.specs = append(g.specs, s)
				g.insts = append(g.insts, Build(s))
			}
		}
	}
}

// tmDigits keeps the HHMMSS digits of a time.
func tmDigits(tm string) string {
	if i := strings.IndexByte(tm, '.'); i >= 0 {
		tm = tm[:i]
	}
	return tm
}

func (g *diffGen) withContent(s Spec) Spec {
	s.Content = fmt.Sprint("changed ", g.r.IntN(1000))
	return s
}

// value returns a value from vals, often changed in case, padding or
// accents, or not present at all.
func (g *diffGen) value(vals []string) string {
	v := g.pick(vals)
	switch g.r.IntN(6) {
	case 0:
		return strings.ToLower(v)
	case 1:
		return v + " "
	case 2:
		return "NOPE"
	}
	return v
}

// pattern returns a wildcard pattern from a value.
func (g *diffGen) pattern(v string) string {
	rs := []rune(v)
	if len(rs) == 0 {
		return "*"
	}
	cut := 1 + g.r.IntN(min(len(rs), 4))
	switch g.r.IntN(5) {
	case 0:
		return "*" + string(rs[len(rs)-cut:])
	case 1:
		out := slices.Clone(rs)
		out[g.r.IntN(len(out))] = '?'
		return string(out)
	case 2:
		return "*" + string(rs[min(1, len(rs)-1):cut]) + "*"
	case 3:
		return strings.ToLower(string(rs[:cut])) + "*"
	}
	return string(rs[:cut]) + "*"
}

func (g *diffGen) dateBound() string {
	if g.chance(0.25) {
		return ""
	}
	d := g.pick(g.dates)
	if d == "" || g.chance(0.3) {
		d = fmt.Sprintf("20%02d%02d%02d", 18+g.r.IntN(7), 1+g.r.IntN(12), 1+g.r.IntN(28))
	}
	return d
}

func (g *diffGen) filter(level index.Level, fuzzy bool) index.Filter {
	r := g.r
	for {
		switch r.IntN(20) {
		case 0, 1:
			name := g.pick(g.names)
			switch r.IntN(4) {
			case 0:
				return wild(tPatientName, "PN", g.pattern(name))
			case 1:
				return list(tPatientName, "PN", g.value(g.names), g.value(g.names))
			case 2:
				if fuzzy {
					comps := strings.FieldsFunc(strings.SplitN(name, "=", 2)[0], func(c rune) bool { return c == '^' || c == ' ' })
					if len(comps) > 0 {
						c := []rune(g.pick(comps))
						return single(tPatientName, "PN", strings.ToLower(string(c[:1+r.IntN(len(c))])))
					}
				}
			}
			return single(tPatientName, "PN", g.value(g.names))
		case 2:
			switch r.IntN(3) {
			case 0:
				return wild(tPatientID, "LO", g.pattern(g.pick(g.pids)))
			case 1:
				return list(tPatientID, "LO", g.pick(g.pids), g.pick(g.pids), "NONE")
			}
			return single(tPatientID, "LO", g.value(g.pids))
		case 3:
			return single(tIssuer, "LO", g.pick([]string{"HOSP", "OTHER", "hosp"}))
		case 4:
			if r.IntN(2) == 0 {
				return wild(tAccession, "SH", g.pattern(g.pick(g.accessions)))
			}
			return single(tAccession, "SH", g.value(g.accessions))
		case 5, 6:
			switch r.IntN(4) {
			case 0:
				return single(tStudyDate, "DA", g.pick(g.dates))
			case 1:
				return list(tStudyDate, "DA", g.pick(g.dates), g.pick(g.dates))
			}
			lo, hi := g.dateBound(), g.dateBound()
			if lo > hi && hi != "" {
				lo, hi = hi, lo
			}
			return rng(tStudyDate, "DA", lo, hi)
		case 7:
			lo, hi := "", ""
			if r.IntN(3) > 0 {
				lo = fmt.Sprintf("%02d", r.IntN(24))
			}
			if r.IntN(3) > 0 {
				hi = fmt.Sprintf("%02d%02d", r.IntN(24), r.IntN(60))
			}
			if lo == "" && hi == "" {
				return single(tStudyTime, "TM", g.pick(g.times))
			}
			return rng(tStudyTime, "TM", lo, hi)
		case 8:
			switch r.IntN(3) {
			case 0:
				return list(tModality, "CS", g.pick(diffMods), g.pick(diffMods))
			case 1:
				return wild(tModality, "CS", g.pattern(g.pick(diffMods)))
			}
			return single(tModality, "CS", g.pick(diffMods))
		case 9:
			return single(tModsInStudy, "CS", g.pick(diffMods))
		case 10:
			return list(tStudyUID, "UI", g.pick(g.studies), g.pick(g.studies), g.pick(g.studies), "9.9")
		case 11:
			if level >= index.LevelSeries {
				return list(tSeriesUID, "UI", g.pick(g.series), g.pick(g.series), "9.9")
			}
		case 12:
			if level == index.LevelInstance {
				return list(tSOPUID, "UI", g.pick(g.sops), g.pick(g.sops), g.pick(g.sops))
			}
		case 13:
			if r.IntN(2) == 0 {
				return wild(tStudyDesc, "LO", g.pattern(g.pick(g.descs)))
			}
			return single(tStudyDesc, "LO", g.pick(g.descs))
		case 14:
			return single(tSex, "CS", g.pick([]string{"F", "M", "O"}))
		case 15:
			switch r.IntN(3) {
			case 0:
				return single(tNumInst, "IS", fmt.Sprint(1+r.IntN(8)))
			case 1:
				return single(tNumSeries, "IS", fmt.Sprint(1+r.IntN(3)))
			}
			return single(tClassInStudy, "UI", g.pick([]string{CTImageStorage, MRImageStorage, USImageStorage, CRImageStorage}))
		case 16:
			if level >= index.LevelSeries {
				if r.IntN(2) == 0 {
					return single(tNumSerInst, "IS", fmt.Sprint(1+r.IntN(4)))
				}
				return single(tSeriesNumber, "IS", fmt.Sprint(1+r.IntN(4)))
			}
		case 17:
			if level == index.LevelInstance {
				if r.IntN(2) == 0 {
					return single(tInstNumber, "IS", fmt.Sprint(r.IntN(6)))
				}
				return single(tImageType, "CS", g.pick([]string{"LOCALIZER", "ORIGINAL", "DERIVED", "AXIAL"}))
			}
		case 18:
			if level == index.LevelInstance {
				lo, hi := g.dateBound(), g.dateBound()
				if lo > hi && hi != "" {
					lo, hi = hi, lo
				}
				return rng(tAcqDateTime, "DT", lo, hi)
			}
		case 19:
			return single(tBirthDate, "DA", g.pick(g.dates))
		}
	}
}

func (g *diffGen) query() index.Query {
	r := g.r
	q := index.Query{Level: index.Level(r.IntN(3)), Fuzzy: g.chance(0.3), Encoded: g.chance(0.3), Reuse: g.chance(0.3)}
	if q.Level > index.LevelStudy && g.chance(0.4) {
		q.StudyUID = g.pick(g.studies)
		if q.Level == index.LevelInstance && g.chance(0.5) {
			q.SeriesUID = q.StudyUID + ".1"
		}
	} else if g.chance(0.1) {
		q.StudyUID = g.pick(g.studies)
	}
	for i, nf := 0, r.IntN(4); i < nf; i++ {
		q.Filters = append(q.Filters, g.filter(q.Level, q.Fuzzy))
	}
	if g.chance(0.3) {
		q.Limit = 1 + r.IntN(20)
	}
	if g.chance(0.3) {
		q.Offset = r.IntN(30)
	}
	return q
}

// updates are patient updates: new demographics, a removal, a move to a
// new identifier and a merge into an existing one.
func (g *diffGen) updates() []index.PatientUpdate {
	p := g.patients[g.r.IntN(len(g.patients))]
	q := g.patients[g.r.IntN(len(g.patients))]
	newName := g.pick(diffFamilies) + "^Updated=" + g.pick(diffIdeo)
	g.names = append(g.names, newName)
	move := fmt.Sprintf("MOVED%03d", g.r.IntN(1000))
	g.pids = append(g.pids, move)
	ids := func(id, issuer string) []index.Attr {
		out := []index.Attr{Attr(tPatientID, "LO", id)}
		if issuer != "" {
			out = append(out, Attr(tIssuer, "LO", issuer))
		}
		return out
	}
	return []index.PatientUpdate{
		{PatientID: p.id, IssuerOfPatientID: p.issuer, Attrs: []index.Attr{Attr(tPatientName, "PN", newName), Attr(tSex, "CS", "O")}},
		{PatientID: q.id, IssuerOfPatientID: q.issuer, Remove: []uint32{tBirthDate}},
		{PatientID: q.id, IssuerOfPatientID: q.issuer, NewPatientID: move, NewIssuer: "HOSP", IDAttrs: ids(move, "HOSP")},
		{PatientID: p.id, IssuerOfPatientID: p.issuer, NewPatientID: move, NewIssuer: "HOSP", IDAttrs: ids(move, "HOSP")},
		{PatientID: "NOBODY", Attrs: []index.Attr{Attr(tPatientName, "PN", "No^Body")}},
	}
}

// deletions are a random instance, series and study, and something
// missing.
func (g *diffGen) deletions() [][3]string {
	sop := g.pick(g.sops)
	parts := strings.Split(sop, ".")
	series := strings.Join(parts[:len(parts)-1], ".")
	sst := strings.Split(series, ".")
	study := strings.Join(sst[:len(sst)-1], ".")
	other := g.pick(g.series)
	ost := strings.Split(other, ".")
	return [][3]string{
		{study, "", sop},
		{strings.Join(ost[:len(ost)-1], "."), other, ""},
		{g.pick(g.studies), "", ""},
		{"9.9", "", ""},
	}
}
