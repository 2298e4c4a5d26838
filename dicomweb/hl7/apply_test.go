package hl7

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/archive/patient"
	"github.com/minipacs/minipacs/dicomweb/archive/report"
	"github.com/minipacs/minipacs/dicomweb/archive/worklist"
	"github.com/minipacs/minipacs/index"
)

func parsedMessage(t *testing.T, name string) *Message {
	t.Helper()
	m, err := Parse(readMessage(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

func newRecords(t *testing.T) (*Records, *worklist.Service, *report.Service, *index.Index) {
	t.Helper()
	ix, err := index.Open(context.Background(), filepath.Join(t.TempDir(), "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	wl, rs := worklist.New(ix), report.New(ix)
	return &Records{Orders: wl, Reports: rs, Patients: patient.New(ix)}, wl, rs, ix
}

// TestApplyOrders: ORM^O01 and OMI^O23 become worklist steps with the
// patient, accession, procedure, modality, start and study UID of the
// message; applying again changes nothing; a cancel discontinues.
func TestApplyOrders(t *testing.T) {
	r, wl, _, _ := newRecords(t)
	ctx := context.Background()
	for range 2 { // idempotent
		for _, name := range []string{"orm_o01.hl7", "omi_o23.hl7"} {
			if err := r.Apply(ctx, parsedMessage(t, name)); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	orm, err := wl.Get(ctx, "PLC1001", "1")
	if err != nil {
		t.Fatal(err)
	}
	want := worklist.Order{PlacerOrder: "PLC1001", FillerOrder: "FIL2002", StepID: "1", AccessionNumber: "ACC123456",
		PatientID: "123456", IssuerOfPatientID: "GENHOSP", PatientName: "DOE^JANE^A", PatientBirthDate: "19700101", PatientSex: "F",
		Modality: "CR", StartDate: "20240306", StartTime: "090000", RequestedProcedureDescription: "CHEST 2 VIEWS",
		StudyInstanceUID: "1.2.840.113619.2.55.3.604688119.969.1268071029.320", ReferringPhysicianName: "Welby^Marcus", Status: worklist.Scheduled}
	got := *orm
	got.Updated, got.StepDescription = want.Updated, ""
	if got.PlacerOrder != want.PlacerOrder || got.AccessionNumber != want.AccessionNumber || got.PatientName != want.PatientName ||
		got.Modality != want.Modality || got.StartDate != want.StartDate || got.StartTime != want.StartTime ||
		got.StudyInstanceUID != want.StudyInstanceUID || got.IssuerOfPatientID != want.IssuerOfPatientID ||
		got.RequestedProcedureDescription != want.RequestedProcedureDescription || got.ReferringPhysicianName != want.ReferringPhysicianName ||
		got.Status != want.Status || got.FillerOrder != want.FillerOrder {
		t.Errorf("ORM order:\n got %+v\nwant %+v", got, want)
	}
	omi, err := wl.Get(ctx, "PLC1002", "SPS1")
	if err != nil {
		t.Fatal(err)
	}
	if omi.AccessionNumber != "ACC123457" || omi.Modality != "CT" || omi.RequestedProcedureID != "REQ1" || omi.StudyInstanceUID != "1.2.840.113619.2.55.3.1" ||
		omi.StartDate != "20240307" || omi.RequestedProcedureDescription != "CT Head w/o contrast" {
		t.Errorf("OMI step: %+v", omi)
	}
	n := 0
	wl.Find(ctx, worklist.Filter{}, func(*worklist.Order) error { n++; return nil })
	if n != 2 {
		t.Errorf("%d scheduled steps after applying twice, want 2", n)
	}
	// The RIS cancels the ORM order.
	cancel := parsedMessage(t, "orm_o01.hl7").String()
	cancel = strings.Replace(cancel, "ORC|NW|", "ORC|CA|", 1)
	m, err := Parse([]byte(cancel))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(ctx, m); err != nil {
		t.Fatal(err)
	}
	if o, _ := wl.Get(ctx, "PLC1001", "1"); o.Status != worklist.Discontinued {
		t.Errorf("after ORC CA: %s", o.Status)
	}
}

// TestApplyResult: ORU^R01 becomes a final report with its text lines,
// accession, patient and times; other messages are refused with the
// right HL7 codes.
func TestApplyResult(t *testing.T) {
	r, _, rs, _ := newRecords(t)
	ctx := context.Background()
	if err := r.Apply(ctx, parsedMessage(t, "oru_r01.hl7")); err != nil {
		t.Fatal(err)
	}
	rep, err := rs.Get(ctx, "FIL2002")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != report.Final || rep.AccessionNumber != "ACC123456" || rep.PatientID != "123456" || rep.Title != "CHEST 2 VIEWS" ||
		!strings.HasPrefix(rep.Text, "FINDINGS: Heart size normal.\nLungs clear; no effusion.\nIMPRESSION") || !strings.Contains(rep.Text, "Łukasz Żółć") ||
		rep.Observed.IsZero() || rep.Issued.IsZero() {
		t.Errorf("report: %+v", rep)
	}
	a18, err := Parse([]byte(strings.Replace(parsedMessage(t, "adt_a01.hl7").String(), "ADT^A01^ADT_A01", "ADT^A18^ADT_A18", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if ack, code := Outcome(r.Apply(ctx, a18)); ack != AR || code != CodeUnsupportedEvent {
		t.Errorf("ADT^A18: %s %d, want AR %d", ack, code, CodeUnsupportedEvent)
	}
	// An order without PID, and an ORC without order number.
	for _, bad := range []string{
		"MSH|^~\\&|RIS|H|MINIPACS|R|20240305140000||ORM^O01|X1|P|2.3\rORC|NW|P1\r",
		"MSH|^~\\&|RIS|H|MINIPACS|R|20240305140000||ORM^O01|X2|P|2.3\rPID|1||9^^^H\rORC|NW|\r",
	} {
		m, err := Parse([]byte(bad))
		if err != nil {
			t.Fatal(err)
		}
		if ack, _ := Outcome(r.Apply(ctx, m)); ack != AE {
			t.Errorf("%q: %s, want AE", bad, ack)
		}
	}
}

// TestIndexJournal: the journal keeps ACKs in the index.
func TestIndexJournal(t *testing.T) {
	_, _, _, ix := newRecords(t)
	j := IndexJournal{Index: ix}
	ctx := context.Background()
	if _, ok, err := j.Lookup(ctx, "RIS^H|1"); ok || err != nil {
		t.Fatalf("empty journal: %v %v", ok, err)
	}
	if err := j.Record(ctx, "RIS^H|1", []byte("MSH|ack")); err != nil {
		t.Fatal(err)
	}
	if ack, ok, err := j.Lookup(ctx, "RIS^H|1"); !ok || err != nil || string(ack) != "MSH|ack" {
		t.Fatalf("journal: %q %v %v", ack, ok, err)
	}
}

// TestApplyADT: A01 and A08 set the patient's demographics, A40 merges
// the MRG patient into the PID one (the merged identifier is refused
// afterwards, also in orders), A47 changes the identifier; applying each
// again changes nothing.
func TestApplyADT(t *testing.T) {
	r, _, _, ix := newRecords(t)
	ps := patient.New(ix)
	ctx := context.Background()
	for _, name := range []string{"adt_a01.hl7", "adt_a08.hl7"} {
		for range 2 { // a re-send
			if err := r.Apply(ctx, parsedMessage(t, name)); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	rec, err := ps.Get(ctx, patient.Key{ID: "123456", Issuer: "GENHOSP"})
	if err != nil || rec.Name != "DOE^JANE^A" || rec.BirthDate != "19700101" || rec.Sex != "F" || len(rec.History) != 1 ||
		!strings.HasPrefix(rec.History[0].Was.Name, "O'Brien") {
		t.Fatalf("after A01, A08: %+v %v", rec, err)
	}
	for range 2 {
		if err := r.Apply(ctx, parsedMessage(t, "adt_a40.hl7")); err != nil {
			t.Fatalf("A40: %v", err)
		}
	}
	if k, _ := ps.Resolve(ctx, patient.Key{ID: "654321", Issuer: "GENHOSP"}); k.ID != "123456" {
		t.Errorf("after A40, 654321 resolves to %v", k)
	}
	// An order naming the merged identifier is refused.
	orm := strings.Replace(parsedMessage(t, "orm_o01.hl7").String(), "PID|1||123456^^^GENHOSP", "PID|1||654321^^^GENHOSP", 1)
	m, err := Parse([]byte(orm))
	if err != nil {
		t.Fatal(err)
	}
	if ack, code := Outcome(r.Apply(ctx, m)); ack != AE || code != CodeUnknownKey {
		t.Errorf("order for a merged patient: %s %d", ack, code)
	}
	if err := r.Apply(ctx, parsedMessage(t, "adt_a47.hl7")); err != nil {
		t.Fatalf("A47: %v", err)
	}
	if k, _ := ps.Resolve(ctx, patient.Key{ID: "654321", Issuer: "GENHOSP"}); k.ID != "777777" {
		t.Errorf("after A47, 654321 resolves to %v", k)
	}
	if ack, _ := Outcome(r.Apply(ctx, parsedMessage(t, "adt_a08.hl7"))); ack != AE {
		t.Errorf("A08 for the changed identifier 123456: %s, want AE", ack)
	}
}
