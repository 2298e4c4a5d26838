package ingest

import (
	"context"
	"fmt"
	"slices"

	"github.com/minipacs/minipacs/index"
)

// Patients is the patient record's view of an instance's patient
// (*patient.Service): the identifier to index it under (the one its
// patient was merged into; id and issuer unchanged when not merged) and
// the patient attributes the record holds, which replace the instance's
// own in the index (none when the record has nothing to say; with a new
// identifier, its PatientID and IssuerOfPatientID attributes).
type Patients interface {
	Current(ctx context.Context, id, issuer string) (newID, newIssuer string, attrs []index.Attr, err error)
}

// patientView applies the patient record's view to inst (see
// Config.Patients).
func (g *Ingester) patientView(ctx context.Context, inst *index.Instance) error {
	if g.patients == nil {
		return nil
	}
	id, issuer, attrs, err := g.patients.Current(ctx, inst.PatientID, inst.IssuerOfPatientID)
	if err != nil {
		return fmt.Errorf("patient record: %w", err)
	}
	inst.PatientFromRecord = len(attrs) > 0
	if id != inst.PatientID || issuer != inst.IssuerOfPatientID {
		inst.PatientID, inst.IssuerOfPatientID = id, issuer
		inst.Study = slices.DeleteFunc(inst.Study, func(a index.Attr) bool { return a.Tag == 0x00100020 || a.Tag == 0x00100021 })
	}
	for _, a := range attrs {
		inst.Study = index.SetAttr(inst.Study, a)
	}
	return nil
}
