package index

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// PatientUpdate changes the patient of every study indexed under one
// patient identifier (what HL7 ADT messages say): the patient-level
// attributes in Attrs (group 0010, as Put takes them: Values and JSON)
// replace or join those of each study, and with NewPatientID set the
// studies move to that identifier (merge, change of identifier). The
// stored objects are not touched: their original values stay in them.
type PatientUpdate struct {
	PatientID, IssuerOfPatientID string
	// Attrs are the new patient-level attributes. PatientID and
	// IssuerOfPatientID among them are ignored (the identifier is
	// NewPatientID/NewIssuer).
	Attrs []Attr
	// Remove lists patient-level tags to drop from the studies (a value
	// the sender cleared).
	Remove []uint32
	// NewPatientID, NewIssuer: the identifier the studies move to ("" for
	// no move).
	NewPatientID, NewIssuer string
	// IDAttrs are the PatientID and IssuerOfPatientID attributes to write
	// when the studies move (their JSON); required with NewPatientID.
	IDAttrs []Attr
}

// UpdatePatient applies u in one transaction and returns the Study
// Instance UIDs changed; from then on Metadata gives the studies' patient
// attributes in place of their objects' (x_padt). No study under that identifier is not an error
// (the demographics only concern studies to come).
func (ix *Index) UpdatePatient(ctx context.Context, u PatientUpdate) ([]string, error) {
	if err := u.Check(); err != nil {
		return nil, err
	}
	var changed []string
	err := ix.update(ctx, "update patient", func(tx *bolt.Tx) error {
		changed = changed[:0]
		var uids []string
		c := tx.Bucket(bxPID).Cursor()
		prefix := []byte(truncate(u.PatientID) + "\x00")
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			uids = append(uids, string(k[len(prefix):]))
		}
		sb := tx.Bucket(bStudies)
		for _, uid := range uids {
			v := sb.Get([]byte(uid))
			if v == nil {
				continue
			}
			st, err := decodeStudy(v, true)
			if err != nil {
				return fmt.Errorf("study record: %w", err)
			}
			if string(st.PatientID) != u.PatientID || string(st.Issuer) != u.IssuerOfPatientID {
				continue
			}
			if err := updateStudyPatient(tx, uid, &st, &u); err != nil {
				return err
			}
			if err := markPatientFromRecord(tx, uid); err != nil {
				return err
			}
			changed = append(changed, uid)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changed, nil
}

// updateStudyPatient rewrites one study record with u: its attributes,
// demographics, identifier, secondary index entries and patient counts.
func updateStudyPatient(tx *bolt.Tx, uid string, st *studyRec, u *PatientUpdate) error {
	oldList, err := st.Attrs.list(nil)
	if err != nil {
		return fmt.Errorf("study record: %w", err)
	}
	oldList = bytes.Clone(oldList)
	attrs, pid, issuer, demo, err := u.Apply(decodeAttrList(oldList), string(st.PatientID), string(st.Issuer))
	if err != nil {
		return err
	}
	newList := appendAttrs(nil, attrs)
	// Secondary indexes: the entries of the old attributes out, the new in
	// (the sort key depends on study attributes only: it stays).
	for _, e := range studyIndexEntries(uid, oldList, st.SortKey) {
		if err := tx.Bucket(e.bucket).Delete(e.key); err != nil {
			return fmt.Errorf("delete %s: %w", e.bucket, err)
		}
	}
	for _, e := range studyIndexEntries(uid, newList, st.SortKey) {
		if err := tx.Bucket(e.bucket).Put(e.key, st.SortKey[:]); err != nil {
			return fmt.Errorf("index %s: %w", e.bucket, err)
		}
	}
	// The patients bucket: the study leaves its old patient and joins the
	// new one (the same one when only demographics change).
	pb := tx.Bucket(bPatients)
	oldKey := slices.Concat(st.PatientID, []byte{0}, st.Issuer)
	if v := pb.Get(oldKey); v != nil {
		pr, err := decodePatient(v)
		if err != nil {
			return fmt.Errorf("patient record: %w", err)
		}
		if pr.NStudies = decr(pr.NStudies); pr.NStudies == 0 {
			err = pb.Delete(oldKey)
		} else {
			err = pb.Put(oldKey, pr.encode())
		}
		if err != nil {
			return err
		}
	}
	patientA := PatientGroup(attrs)
	newKey := []byte(pid + "\x00" + issuer)
	pr := patientRec{Attrs: packedAttrs{b: appendAttrs(nil, patientA), plain: true}}
	if v := pb.Get(newKey); v != nil {
		old, err := decodePatient(v)
		if err != nil {
			return fmt.Errorf("patient record: %w", err)
		}
		pr.NStudies = old.NStudies
	}
	pr.NStudies++
	if err := pb.Put(newKey, pr.encode()); err != nil {
		return err
	}
	st.PatientID, st.Issuer = []byte(pid), []byte(issuer)
	st.Demo = demo
	st.Attrs = packedAttrs{b: newList, plain: true}
	return tx.Bucket(bStudies).Put([]byte(uid), st.encode())
}

// SetAttr puts a into attrs, sorted by tag: in place of the attribute of
// its tag, or inserted in order.
func SetAttr(attrs []Attr, a Attr) []Attr {
	i, found := slices.BinarySearchFunc(attrs, a, cmpAttr)
	if found {
		attrs[i] = a
		return attrs
	}
	return slices.Insert(attrs, i, a)
}

// decodeAttrList decodes an encoded attr list into Attrs (copies).
func decodeAttrList(list []byte) []Attr {
	var out []Attr
	it := newAttrIter(list)
	for {
		a, ok := it.next()
		if !ok {
			return out
		}
		at := Attr{Tag: a.Tag, VR: a.VR, JSON: bytes.Clone(a.JSON)}
		a.each(func(v []byte) bool {
			at.Values = append(at.Values, string(v))
			return false
		})
		out = append(out, at)
	}
}
