package dimse

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/archive/retrieve"
	"github.com/minipacs/minipacs/dicomweb/archive/worklist"
)

// TestWorklistSCU: DCMTK findscu -W (Modality Worklist) gets the scheduled
// steps that match its keys, with the requested top-level and step keys
// filled from the orders, names in UTF-8 when they need it; a cancelled
// order is not offered.
func TestWorklistSCU(t *testing.T) {
	a := newArchive(t)
	wl := worklist.New(a.idx)
	ctx := context.Background()
	orders := []worklist.Order{
		{PlacerOrder: "P1", StepID: "S1", AccessionNumber: "ACC1", PatientID: "PID1", PatientName: "Müller^Jürgen", PatientBirthDate: "19700101", PatientSex: "M",
			Modality: "CT", StationAETitle: "CT1", StartDate: "20261207", StartTime: "083000", RequestedProcedureID: "RP1", RequestedProcedureDescription: "CT head", StepDescription: "Head plain"},
		{PlacerOrder: "P2", StepID: "S1", AccessionNumber: "ACC2", PatientID: "PID2", PatientName: "Doe^Jane", Modality: "MR", StationAETitle: "MR1", StartDate: "20261208", StartTime: "1400"},
		{PlacerOrder: "P3", StepID: "S1", AccessionNumber: "ACC3", PatientID: "PID3", PatientName: "Roe^Rick", Modality: "CT", StationAETitle: "CT1", StartDate: "20261207", Status: worklist.Discontinued},
	}
	stored := map[string]*worklist.Order{}
	for _, o := range orders {
		got, err := wl.Put(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		stored[got.AccessionNumber] = got
	}
	_, addr := startServer(t, Config{Ingester: a.ing, Index: a.idx, Retriever: retrieve.New(a.idx, a.store), Worklist: wl, Policy: &Policy{AcceptAny: true}})
	_, port := hostPort(t, addr)
	ret := []string{"AccessionNumber", "PatientName", "PatientID", "PatientBirthDate", "StudyInstanceUID", "RequestedProcedureID",
		"ScheduledProcedureStepSequence[0].Modality", "ScheduledProcedureStepSequence[0].ScheduledStationAETitle",
		"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate", "ScheduledProcedureStepSequence[0].ScheduledProcedureStepID"}
	for _, tc := range []struct {
		name string
		keys []string
		want []string // accession numbers
	}{
		{"all", nil, []string{"ACC1", "ACC2"}},
		{"modality CT", []string{"ScheduledProcedureStepSequence[0].Modality=CT"}, []string{"ACC1"}},
		{"station and date", []string{"ScheduledProcedureStepSequence[0].ScheduledStationAETitle=MR1", "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20261201-20261231"}, []string{"ACC2"}},
		{"date range misses", []string{"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20270101-"}, nil},
		{"patient name wildcard", []string{"PatientName=DOE*"}, []string{"ACC2"}},
		{"accession", []string{"AccessionNumber=ACC1"}, []string{"ACC1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := append(slices.Clone(ret), tc.keys...)
			answers, out := findscu(t, port, "-W", keys...)
			var got []string
			for _, ans := range answers {
				acc := ans.values[tagAccessionNumber]
				got = append(got, acc)
				o := stored[acc]
				if o == nil {
					t.Errorf("answer for unknown accession %q", acc)
					continue
				}
				for tag, want := range map[uint32]string{tagPatientName: o.PatientName, tagPatientIDTag: o.PatientID, tagStudyInstanceUIDTag: o.StudyInstanceUID,
					tagRequestedProcedureID: o.RequestedProcedureID, tagPatientBirthDate: o.PatientBirthDate} {
					if ans.values[tag] != want {
						t.Errorf("%s: (%08X) %q, want %q", acc, tag, ans.values[tag], want)
					}
				}
				if _, ok := ans.values[tagSPSSequence]; !ok {
					t.Errorf("%s: no Scheduled Procedure Step Sequence", acc)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("accessions %v, want %v\n%s", got, tc.want, out)
			}
		})
	}
	// The step item carries the step's values.
	answers, _ := findscu(t, port, "-W", append(slices.Clone(ret), "AccessionNumber=ACC1")...)
	if len(answers) != 1 || !strings.Contains(answers[0].steps, "CT1") || !strings.Contains(answers[0].steps, "20261207") || !strings.Contains(answers[0].steps, "S1") {
		t.Errorf("step item: %+v", answers)
	}
}
