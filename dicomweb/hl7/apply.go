package hl7

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/patient"
	"github.com/minipacs/minipacs/dicomweb/archive/report"
	"github.com/minipacs/minipacs/dicomweb/archive/worklist"
	"github.com/minipacs/minipacs/index"
)

// Orders is what the order messages need of the worklist
// (*worklist.Service).
type Orders interface {
	Put(ctx context.Context, o worklist.Order, extra ...index.Record) (*worklist.Order, error)
	SetStatus(ctx context.Context, placer, step, status string, extra ...index.Record) error
}

// Reports is what the result messages need of the reports
// (*report.Service).
type Reports interface {
	Put(ctx context.Context, r report.Report, extra ...index.Record) error
}

// Patients is what ADT messages need of the patient records
// (*patient.Service).
type Patients interface {
	Update(ctx context.Context, k patient.Key, d patient.Demographics, event string) error
	Merge(ctx context.Context, survivor patient.Key, d patient.Demographics, merged patient.Key, event string) error
	Resolve(ctx context.Context, k patient.Key) (patient.Key, error)
}

// Records is the Applier of patient, order and result messages: ADT
// (A01, A02, A03, A04, A05, A06, A07, A08, A28, A31) updates the patient's
// demographics, A40 merges the MRG patient into the PID one, A47 changes
// the MRG identifier to the PID one; ORM^O01 and OMI^O23 become scheduled
// procedure steps of the worklist, ORU^R01 reports. Applying a message
// again gives the same records (orders and reports are keyed by their
// order numbers, patients by their identifier), as the Journal contract
// wants. A message naming a merged identifier is refused (AE 204). Other
// ADT events are answered AR 201 (the sender keeps them) rather than
// acknowledged and ignored.
type Records struct {
	Orders   Orders
	Reports  Reports
	Patients Patients // nil: ADT answered AR 201
}

// adtUpdates are the ADT events that carry the patient's current
// demographics in PID.
var adtUpdates = map[string]bool{"A01": true, "A02": true, "A03": true, "A04": true, "A05": true, "A06": true, "A07": true, "A08": true, "A28": true, "A31": true}

// Apply implements Applier.
func (r *Records) Apply(ctx context.Context, m *Message) error {
	code, event, _ := m.Type()
	if code == "ADT" && r.Patients != nil {
		switch {
		case adtUpdates[event]:
			return r.adtUpdate(ctx, m, event)
		case event == "A40" || event == "A47":
			return r.adtMerge(ctx, m, event)
		}
	}
	switch code + "^" + event {
	case "ORM^O01":
		return r.orders(ctx, m, false)
	case "OMI^O23":
		return r.orders(ctx, m, true)
	case "ORU^R01":
		return r.results(ctx, m)
	}
	switch code {
	case "ORM", "OMI", "ORU", "ADT":
		return &Error{Code: CodeUnsupportedEvent, Segment: "MSH", Field: 9, Msg: fmt.Sprintf("event %s of %s is not supported", safe(event), code)}
	}
	return &Error{Code: CodeUnsupportedType, Segment: "MSH", Field: 9, Msg: "message type not supported"}
}

// safe keeps a code from a message for an error text: letters and digits,
// at most 8.
func safe(s string) string {
	var b strings.Builder
	for _, c := range s {
		if b.Len() == 8 {
			break
		}
		if (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// pidValues are what PID says: the first identifier of PID-3 with its
// assigning authority, the first name of PID-5 as a DICOM PN, birth date
// and sex.
type pidValues struct {
	id, issuer, name, birth, sex string
}

func (p pidValues) key() patient.Key { return patient.Key{ID: p.id, Issuer: p.issuer} }

func (p pidValues) demographics() patient.Demographics {
	return patient.Demographics{Name: p.name, BirthDate: p.birth, Sex: p.sex}
}

// current reads PID and refuses an identifier merged into another.
func (r *Records) current(ctx context.Context, m *Message) (pidValues, error) {
	p, err := readPatient(m)
	if err != nil || r.Patients == nil {
		return p, err
	}
	k, err := r.Patients.Resolve(ctx, p.key())
	if err != nil {
		return p, err
	}
	if k != p.key() {
		return p, &Error{Code: CodeUnknownKey, Segment: "PID", Field: 3, Msg: "patient identifier merged into another patient", Err: patient.ErrMerged}
	}
	return p, nil
}

// eventName names a message in patient histories: type and control ID.
func eventName(m *Message) string {
	code, event, _ := m.Type()
	return safe(code) + "^" + safe(event) + " " + m.ControlID()
}

// adtUpdate applies the PID demographics of an ADT event.
func (r *Records) adtUpdate(ctx context.Context, m *Message, event string) error {
	p, err := r.current(ctx, m)
	if err != nil {
		return err
	}
	return patientError(r.Patients.Update(ctx, p.key(), p.demographics(), eventName(m)))
}

// adtMerge applies A40 (MRG-1 merged into PID-3) and A47 (MRG-1 becomes
// PID-3): the studies move, the MRG identifier is refused from then on.
func (r *Records) adtMerge(ctx context.Context, m *Message, event string) error {
	p, err := readPatient(m)
	if err != nil {
		return err
	}
	mrg := m.Segment("MRG")
	if mrg == nil {
		return &Error{Code: CodeSegmentSequence, Segment: "MRG", Msg: "no MRG segment"}
	}
	var old patient.Key
	if reps := mrg.Repetitions(1); len(reps) > 0 {
		old = patient.Key{ID: reps[0].Component(1), Issuer: reps[0].Component(4)}
	}
	if old.ID == "" {
		return &Error{Code: CodeRequiredField, Segment: "MRG", Field: 1, Msg: "no prior patient identifier"}
	}
	return patientError(r.Patients.Merge(ctx, p.key(), p.demographics(), old, eventName(m)))
}

// patientError gives a refused patient change its HL7 code.
func patientError(err error) error {
	switch {
	case errors.Is(err, patient.ErrMerged):
		return &Error{Code: CodeUnknownKey, Segment: "PID", Field: 3, Msg: "patient identifier merged into another patient", Err: err}
	case errors.Is(err, patient.ErrInvalid):
		return &Error{Code: CodeDataType, Segment: "PID", Msg: "patient values refused", Err: err}
	}
	return err
}

func readPatient(m *Message) (pidValues, error) {
	pid := m.Segment("PID")
	if pid == nil {
		return pidValues{}, &Error{Code: CodeSegmentSequence, Segment: "PID", Msg: "no PID segment"}
	}
	var p pidValues
	if reps := pid.Repetitions(3); len(reps) > 0 {
		p.id = reps[0].Component(1)
		p.issuer = reps[0].Component(4)
	}
	if p.id == "" {
		return pidValues{}, &Error{Code: CodeRequiredField, Segment: "PID", Field: 3, Msg: "no patient identifier"}
	}
	if reps := pid.Repetitions(5); len(reps) > 0 {
		p.name = xpn(reps[0].Component)
	}
	p.birth = dateOf(pid.Field(7))
	switch s := strings.ToUpper(pid.Field(8)); s {
	case "M", "F", "O":
		p.sex = s
	}
	return p, nil
}

// xpn turns an HL7 name (family^given^middle^suffix^prefix, XPN or the
// name part of an XCN) into a DICOM PN (family^given^middle^prefix^suffix)
// without trailing empty components.
func xpn(comp func(int) string) string {
	pn := []string{comp(1), comp(2), comp(3), comp(5), comp(4)}
	for len(pn) > 0 && pn[len(pn)-1] == "" {
		pn = pn[:len(pn)-1]
	}
	return strings.Join(pn, "^")
}

// dateOf is the DA part of an HL7 DTM (YYYY[MM[DD[...]]]): "" unless a
// whole date.
func dateOf(dtm string) string {
	if len(dtm) < 8 {
		return ""
	}
	if _, err := time.Parse("20060102", dtm[:8]); err != nil {
		return ""
	}
	return dtm[:8]
}

// timeOf is the TM part of an HL7 DTM (HHMM[SS]), "" when none.
func timeOf(dtm string) string {
	if len(dtm) < 12 {
		return ""
	}
	t := dtm[8:]
	if i := strings.IndexAny(t, "+-"); i >= 0 {
		t = t[:i]
	}
	t, _, _ = strings.Cut(t, ".")
	for _, c := range t {
		if c < '0' || c > '9' {
			return ""
		}
	}
	return t[:min(len(t), 6)]
}

// dtm parses an HL7 DTM to a time (zero when invalid); without an offset
// it is local time.
func dtm(s string) time.Time {
	s, _, _ = strings.Cut(s, ".")
	for _, layout := range []string{"20060102150405-0700", "200601021504-0700", "20060102150405", "200601021504", "20060102"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t
		}
	}
	return time.Time{}
}

// orderStatus maps the order control (ORC-1) and order status (ORC-5) to
// the step status; "" for a control that is not applied.
func orderStatus(control, status string) (string, bool) {
	switch control {
	case "NW", "XO", "SN", "RP":
		return worklist.Scheduled, true
	case "CA", "DC", "OC", "OD", "CR", "DR":
		return worklist.Discontinued, true
	case "SC":
		switch status {
		case "IP", "A":
			return worklist.InProgress, true
		case "CM":
			return worklist.Completed, true
		case "CA", "DC":
			return worklist.Discontinued, true
		}
		return worklist.Scheduled, true
	}
	return "", false
}

// orders applies ORM^O01 (ORC, OBR, optional ZDS per order) or OMI^O23
// (ORC, TQ1, OBR, IPC per step). Each ORC starts an order; what follows
// it until the next ORC belongs to it.
func (r *Records) orders(ctx context.Context, m *Message, omi bool) error {
	p, err := r.current(ctx, m)
	if err != nil {
		return err
	}
	referring := ""
	if pv1 := m.Segment("PV1"); pv1 != nil {
		if reps := pv1.Repetitions(8); len(reps) > 0 {
			referring = xpn(func(c int) string { return reps[0].Component(c + 1) })
		}
	}
	type group struct {
		orc, tq1, obr, zds *Segment
		ipc                []*Segment
	}
	var groups []*group
	for _, s := range m.All() {
		var g *group
		if len(groups) > 0 {
			g = groups[len(groups)-1]
		}
		switch s.Name {
		case "ORC":
			groups = append(groups, &group{orc: s})
		case "TQ1", "OBR", "ZDS", "IPC":
			if g == nil {
				return &Error{Code: CodeSegmentSequence, Segment: s.Name, Msg: s.Name + " before ORC"}
			}
			switch s.Name {
			case "TQ1":
				g.tq1 = s
			case "OBR":
				g.obr = s
			case "ZDS":
				g.zds = s
			case "IPC":
				g.ipc = append(g.ipc, s)
			}
		}
	}
	if len(groups) == 0 {
		return &Error{Code: CodeSegmentSequence, Segment: "ORC", Msg: "no ORC segment"}
	}
	for _, g := range groups {
		if err := r.order(ctx, p, referring, g.orc, g.tq1, g.obr, g.zds, g.ipc, omi); err != nil {
			return err
		}
	}
	return nil
}

// order applies one order group.
func (r *Records) order(ctx context.Context, p pidValues, referring string, orc, tq1, obr, zds *Segment, ipcs []*Segment, omi bool) error {
	control := strings.ToUpper(orc.Field(1))
	status, ok := orderStatus(control, strings.ToUpper(orc.Field(5)))
	if !ok {
		return &Error{Code: CodeTableValue, Segment: "ORC", Field: 1, Msg: "order control not supported"}
	}
	placer := orc.Component(2, 1)
	if placer == "" && obr != nil {
		placer = obr.Component(2, 1)
	}
	if placer == "" {
		return &Error{Code: CodeRequiredField, Segment: "ORC", Field: 2, Msg: "no placer order number"}
	}
	filler := orc.Component(3, 1)
	if filler == "" && obr != nil {
		filler = obr.Component(3, 1)
	}
	base := worklist.Order{
		PlacerOrder: placer, FillerOrder: filler,
		PatientID: p.id, IssuerOfPatientID: p.issuer, PatientName: p.name, PatientBirthDate: p.birth, PatientSex: p.sex,
		ReferringPhysicianName: referring, Status: status,
	}
	start := orc.Component(7, 4)
	if obr != nil {
		base.RequestedProcedureDescription = firstNonEmpty(obr.Component(4, 2), obr.Component(4, 1))
		base.AccessionNumber = obr.Field(18)
		base.RequestedProcedureID = obr.Field(19)
		base.Modality = obr.Field(24)
		base.StepDescription = base.RequestedProcedureDescription
		if reps := obr.Repetitions(16); len(reps) > 0 && base.ReferringPhysicianName == "" {
			base.ReferringPhysicianName = xpn(func(c int) string { return reps[0].Component(c + 1) })
		}
		start = firstNonEmpty(obr.Component(27, 4), obr.Field(7), start)
	}
	if tq1 != nil {
		start = firstNonEmpty(tq1.Component(7, 1), start)
	}
	base.StartDate, base.StartTime = dateOf(start), timeOf(start)
	if zds != nil {
		base.StudyInstanceUID = zds.Component(1, 1)
	}
	if base.AccessionNumber == "" {
		base.AccessionNumber = filler
	}
	steps := []worklist.Order{base}
	if omi && len(ipcs) > 0 {
		steps = steps[:0]
		for _, ipc := range ipcs {
			o := base
			o.AccessionNumber = firstNonEmpty(ipc.Component(1, 1), base.AccessionNumber)
			o.RequestedProcedureID = firstNonEmpty(ipc.Field(2), base.RequestedProcedureID)
			o.StudyInstanceUID = firstNonEmpty(ipc.Component(3, 1), base.StudyInstanceUID)
			o.StepID = ipc.Field(4)
			o.Modality = firstNonEmpty(ipc.Component(5, 1), base.Modality)
			o.StationAETitle = ipc.Field(9)
			steps = append(steps, o)
		}
	}
	for i := range steps {
		if steps[i].StepID == "" {
			steps[i].StepID = firstNonEmpty(obrField(obr, 20), "1")
		}
	}
	if status == worklist.Discontinued || control == "SC" {
		err := r.Orders.SetStatus(ctx, placer, "", status)
		if err == nil || control != "SC" || !errors.Is(err, worklist.ErrNotFound) {
			return orderError(err)
		}
		// A status change of an order we never saw: keep it as sent.
	}
	for _, o := range steps {
		if _, err := r.Orders.Put(ctx, o); err != nil {
			return orderError(err)
		}
	}
	return nil
}

// orderError says which field a refused order lacks.
func orderError(err error) error {
	if errors.Is(err, worklist.ErrInvalid) {
		return &Error{Code: CodeRequiredField, Segment: "ORC", Msg: "order refused: " + strings.TrimPrefix(err.Error(), "worklist: invalid order: "), Err: err}
	}
	return err
}

func obrField(obr *Segment, i int) string {
	if obr == nil {
		return ""
	}
	return obr.Field(i)
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" && s != Null {
			return s
		}
	}
	return ""
}

// resultStatuses maps OBR-25 to report statuses.
var resultStatuses = map[string]string{
	"F": report.Final, "P": report.Preliminary, "R": report.Preliminary, "I": report.Preliminary, "S": report.Preliminary,
	"C": report.Corrected, "A": report.Corrected, "X": report.Cancelled,
}

// results applies ORU^R01: one report per OBR, its text the OBX values
// (TX, FT, ST, CE text) that follow it, one line per value or repetition.
func (r *Records) results(ctx context.Context, m *Message) error {
	p, err := r.current(ctx, m)
	if err != nil {
		return err
	}
	study := ""
	if zds := m.Segment("ZDS"); zds != nil {
		study = zds.Component(1, 1)
	}
	type group struct {
		obr   *Segment
		lines []string
	}
	var groups []*group
	for _, s := range m.All() {
		switch s.Name {
		case "OBR":
			groups = append(groups, &group{obr: s})
		case "OBX":
			if len(groups) == 0 {
				return &Error{Code: CodeSegmentSequence, Segment: "OBX", Msg: "OBX before OBR"}
			}
			g := groups[len(groups)-1]
			for _, rep := range s.Repetitions(5) {
				if t := rep.Text(); t != "" {
					g.lines = append(g.lines, t)
				}
			}
		}
	}
	if len(groups) == 0 {
		return &Error{Code: CodeSegmentSequence, Segment: "OBR", Msg: "no OBR segment"}
	}
	for _, g := range groups {
		obr := g.obr
		rep := report.Report{
			ID:                firstNonEmpty(obr.Component(3, 1), obr.Component(2, 1)),
			AccessionNumber:   firstNonEmpty(obr.Field(18), obr.Component(3, 1)),
			StudyInstanceUID:  study,
			PatientID:         p.id,
			IssuerOfPatientID: p.issuer,
			PatientName:       p.name,
			Code:              obr.Component(4, 1),
			Title:             firstNonEmpty(obr.Component(4, 2), obr.Component(4, 1)),
			Status:            resultStatuses[strings.ToUpper(obr.Field(25))],
			Text:              strings.Join(g.lines, "\n"),
			Observed:          dtm(obr.Field(7)),
			Issued:            dtm(obr.Field(22)),
		}
		if reps := obr.Repetitions(32); len(reps) > 0 {
			// NDL: the name is the subcomponents of its first component.
			rep.Author = xpn(func(c int) string { return reps[0].Subcomponent(1, c+1) })
		}
		if rep.ID == "" {
			return &Error{Code: CodeRequiredField, Segment: "OBR", Field: 3, Msg: "no filler or placer order number"}
		}
		if err := r.Reports.Put(ctx, rep); err != nil {
			if errors.Is(err, report.ErrInvalid) {
				return &Error{Code: CodeRequiredField, Segment: "OBR", Field: 18, Msg: "report refused: no accession number or study", Err: err}
			}
			return err
		}
	}
	return nil
}

// IndexJournal is the Journal over the index's journal records
// (index.RecordJournal): durable, and carried over by reindex.
type IndexJournal struct {
	Index interface {
		PutRecords(ctx context.Context, recs ...index.Record) error
		GetRecord(ctx context.Context, kind index.RecordKind, key string) ([]byte, error)
	}
}

// Lookup implements Journal.
func (j IndexJournal) Lookup(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := j.Index.GetRecord(ctx, index.RecordJournal, key)
	switch {
	case errors.Is(err, index.ErrNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return v, true, nil
}

// Record implements Journal.
func (j IndexJournal) Record(ctx context.Context, key string, ack []byte) error {
	return j.Index.PutRecords(ctx, index.Record{Kind: index.RecordJournal, Key: key, Value: ack})
}
