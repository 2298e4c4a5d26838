package index_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/minipacs/minipacs/index"
)

// TestUpdatePatient: new demographics replace those of the patient's
// studies in searches (name index included), and a move takes the
// studies to another identifier; other issuers' studies are untouched.
func TestUpdatePatient(t *testing.T) {
	ix := fixture(t)
	ctx := context.Background()
	name := index.Attr{Tag: 0x00100010, VR: "PN", Values: []string{"Meier^Hans"}, JSON: []byte(`{"vr":"PN","Value":[{"Alphabetic":"Meier^Hans"}]}`)}
	changed, err := ix.UpdatePatient(ctx, index.PatientUpdate{PatientID: "P1", IssuerOfPatientID: "A", Attrs: []index.Attr{name}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(changed, []string{s1}) {
		t.Fatalf("changed %v, want [%s]", changed, s1)
	}
	find := func(f index.Filter) []string {
		return studyUIDs(search(t, ix, index.Query{Level: index.LevelStudy, Filters: []index.Filter{f}}))
	}
	if got := find(wild(0x00100010, "PN", "meier*")); !slices.Equal(got, []string{s1}) {
		t.Errorf("new name finds %v", got)
	}
	if got := find(single(0x00100010, "PN", "Müller^Hans")); slices.Contains(got, s1) {
		t.Errorf("old name still finds %s: %v", s1, got)
	}
	rs := search(t, ix, index.Query{Level: index.LevelInstance, StudyUID: s1})
	for _, r := range rs {
		if v := attrValue(r.Study, 0x00100010); v != "Meier^Hans" {
			t.Errorf("instance answer's PatientName %q", v)
		}
	}
	// Metadata gives the record's name in place of the object's; other
	// studies are as stored; the patient version moved.
	n := 0
	err = ix.Metadata(ctx, s1, "", "", func(js []byte) error {
		n++
		if !bytes.Contains(js, []byte(`"Meier^Hans"`)) || bytes.Contains(js, []byte(`Müller`)) {
			t.Errorf("metadata after the update: %s", js)
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("metadata: %d, %v", n, err)
	}
	ix.Metadata(ctx, s2, "", "", func(js []byte) error {
		if bytes.Contains(js, []byte(`"Meier^Hans"`)) {
			t.Errorf("another issuer's study took the update")
		}
		return nil
	})
	if v, _ := ix.PatientVersion(ctx, s1); v.IsZero() {
		t.Error("no patient version after the update")
	}
	if v, _ := ix.PatientVersion(ctx, s2); !v.IsZero() {
		t.Error("patient version of an untouched study")
	}

	// A merge into P9: the study moves, P1 of issuer B stays.
	idAttrs := []index.Attr{
		{Tag: 0x00100020, VR: "LO", Values: []string{"P9"}, JSON: []byte(`{"vr":"LO","Value":["P9"]}`)},
		{Tag: 0x00100021, VR: "LO", Values: []string{"A"}, JSON: []byte(`{"vr":"LO","Value":["A"]}`)},
	}
	changed, err = ix.UpdatePatient(ctx, index.PatientUpdate{PatientID: "P1", IssuerOfPatientID: "A", NewPatientID: "P9", NewIssuer: "A", IDAttrs: idAttrs})
	if err != nil || !slices.Equal(changed, []string{s1}) {
		t.Fatalf("move: %v %v", changed, err)
	}
	if got := find(single(0x00100020, "LO", "P9")); !slices.Equal(got, []string{s1}) {
		t.Errorf("PatientID P9 finds %v", got)
	}
	if got := find(single(0x00100020, "LO", "P1")); !slices.Equal(got, []string{s2}) {
		t.Errorf("PatientID P1 finds %v, want only the other issuer's %s", got, s2)
	}
	if _, err := ix.UpdatePatient(ctx, index.PatientUpdate{PatientID: "P9", IssuerOfPatientID: "A",
		Attrs: []index.Attr{{Tag: 0x00080050, VR: "SH"}}}); err == nil {
		t.Error("a non-patient attribute was accepted")
	}
	// Nothing under that identifier: no study changed, no error.
	if changed, err := ix.UpdatePatient(ctx, index.PatientUpdate{PatientID: "NOPE", Attrs: []index.Attr{name}}); err != nil || len(changed) != 0 {
		t.Errorf("unknown patient: %v %v", changed, err)
	}
}
