package retrieve_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"
	"github.com/minipacs/minipacs/index"
)

// TestInstancePatientRecord: once a patient record gives a study new
// patient attributes, every form of its objects carries them: as stored
// (spliced: the rest of the bytes unchanged, in Explicit and Implicit VR
// and encapsulated), and re-encoded or decoded; other elements and the
// pixel data are as stored.
func TestInstancePatientRecord(t *testing.T) {
	files := []string{"test_files/CT_small.dcm", "test_files/MR_small_implicit.dcm", "test_files/SC_rgb_rle.dcm", "test_files/MR_small_bigendian.dcm"}
	for _, rel := range files {
		t.Run(rel, func(t *testing.T) {
			a := newArchive(t, rel)
			ctx := context.Background()
			ref := a.ref(t, rel)
			orig := testcorpus.File(t, rel)
			of, err := part10.Parse(ctx, bytes.NewReader(orig), int64(len(orig)), part10.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			pid := of.DataSet.String(part10.TagPatientID)
			issuer := of.DataSet.String(part10.TagIssuerOfPatientID)
			name := index.Attr{Tag: 0x00100010, VR: "PN", Values: []string{"Record^Name"}, JSON: []byte(`{"vr":"PN","Value":[{"Alphabetic":"Record^Name"}]}`)}
			sex := index.Attr{Tag: 0x00100040, VR: "CS", Values: []string{"O"}, JSON: []byte(`{"vr":"CS","Value":["O"]}`)}
			if changed, err := a.Index.UpdatePatient(ctx, index.PatientUpdate{PatientID: pid, IssuerOfPatientID: issuer, Attrs: []index.Attr{name, sex}}); err != nil || len(changed) != 1 {
				t.Fatalf("UpdatePatient: %v %v", changed, err)
			}
			for _, want := range []string{ref.TransferSyntaxUID, part10.ExplicitVRLittleEndian, part10.ImplicitVRLittleEndian} {
				body, err := a.svc.Instance(ctx, ref, want)
				got := written(t, body, err)
				f, err := part10.Parse(ctx, bytes.NewReader(got), int64(len(got)), part10.Limits{})
				if err != nil {
					t.Fatalf("%s: the answer does not parse: %v", want, err)
				}
				if f.DataSet.String(0x00100010) != "Record^Name" || f.DataSet.String(0x00100040) != "O" {
					t.Errorf("%s: PatientName %q, sex %q", want, f.DataSet.String(0x00100010), f.DataSet.String(0x00100040))
				}
				if f.DataSet.String(part10.TagSOPInstanceUID) != of.DataSet.String(part10.TagSOPInstanceUID) || f.DataSet.String(part10.TagPatientID) != pid {
					t.Errorf("%s: other elements changed", want)
				}
				if want == ref.TransferSyntaxUID && f.TransferSyntax.UID != ref.TransferSyntaxUID {
					t.Errorf("as stored: answered in %s", f.TransferSyntax.UID)
				}
				// Pixel data as stored (the frames for the stored syntax).
				if want == ref.TransferSyntaxUID && !bytes.Equal(frameOf(t, orig), frameOf(t, got)) {
					t.Errorf("as stored: the first frame changed")
				}
			}
		})
	}
}
