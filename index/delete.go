package index

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Delete removes a study (series and sop empty), a series (sop empty) or
// one instance (series may be empty to mean any series of the study) with
// all their index entries, and returns the object keys of the removed
// instances. The caller deletes those objects after Delete returns (the
// index commit comes first, so a crash leaves unreferenced objects for gc,
// never dangling index entries). Series and study records are removed when
// they become empty; counts and ModalitiesInStudy are updated. ErrNotFound
// if nothing matched.
func (ix *Index) Delete(ctx context.Context, study, series, sop string) ([]string, error) {
	var keys []string
	err := ix.update(ctx, "delete", func(tx *bolt.Tx) error {
		keys = keys[:0]
		sops, err := selectInstances(tx, study, series, sop)
		if err != nil {
			return err
		}
		for _, s := range sops {
			k, err := removeInstance(tx, s)
			if err != nil {
				return err
			}
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// selectInstances lists the SOP UIDs a Delete addresses.
func selectInstances(tx *bolt.Tx, study, series, sop string) ([]string, error) {
	if study == "" {
		return nil, ErrNotFound
	}
	if sop != "" {
		v := tx.Bucket(bInstances).Get([]byte(sop))
		if v == nil {
			return nil, ErrNotFound
		}
		r, err := decodeInst([]byte(sop), v)
		if err != nil {
			return nil, err
		}
		if r.StudyUID != study || (series != "" && r.SeriesUID != series) {
			return nil, ErrNotFound
		}
		return []string{sop}, nil
	}
	prefix := []byte(study + "\x00")
	if series != "" {
		prefix = []byte(study + "\x00" + series + "\x00")
	}
	var sops []string
	c := tx.Bucket(bHier).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		s, ok := hierSOP(k, len(study)+1)
		if !ok {
			return nil, fmt.Errorf("hier key: %w", errCorrupt)
		}
		sops = append(sops, s)
	}
	if len(sops) == 0 {
		return nil, ErrNotFound
	}
	return sops, nil
}

// hierSOP extracts the SOP UID from a hier key; from is the offset of the
// series UID.
func hierSOP(k []byte, from int) (string, bool) {
	if from > len(k) {
		return "", false
	}
	i := bytes.IndexByte(k[from:], 0)
	if i < 0 || from+i+1+8 > len(k) {
		return "", false
	}
	return string(k[from+i+1+8:]), true
}

// removeInstance deletes one instance and everything that depends on it,
// returning its object key.
func removeInstance(tx *bolt.Tx, sop string) (string, error) {
	sopKey := []byte(sop)
	v := tx.Bucket(bInstances).Get(sopKey)
	if v == nil {
		return "", ErrNotFound
	}
	r, err := decodeInst(sopKey, v)
	if err != nil {
		return "", fmt.Errorf("instance record: %w", err)
	}
	order := orderBytes(r.HasNumber, r.Number)
	hierKey := []byte(r.StudyUID + "\x00" + r.SeriesUID + "\x00" + string(order[:]) + sop)
	for _, d := range []struct{ b, k []byte }{
		{bInstances, sopKey}, {bMetadata, sopKey}, {bHier, hierKey},
	} {
		if err := tx.Bucket(d.b).Delete(d.k); err != nil {
			return "", fmt.Errorf("delete %s: %w", d.b, err)
		}
	}
	ob := tx.Bucket(bObjects)
	if owner := ob.Get([]byte(r.ObjectKey)); owner != nil && string(owner) == sop {
		if err := ob.Delete([]byte(r.ObjectKey)); err != nil {
			return "", fmt.Errorf("delete objects: %w", err)
		}
	}

	studyKey := []byte(r.StudyUID)
	sv := tx.Bucket(bStudies).Get(studyKey)
	if sv == nil {
		return "", fmt.Errorf("study of instance: %w", errCorrupt)
	}
	st, err := decodeStudy(sv, true)
	if err != nil {
		return "", fmt.Errorf("study record: %w", err)
	}
	rk := seriesKey(r.StudyUID, r.SeriesUID)
	rv := tx.Bucket(bSeries).Get(rk)
	if rv == nil {
		return "", fmt.Errorf("series of instance: %w", errCorrupt)
	}
	sr, err := decodeSeries(rv)
	if err != nil {
		return "", fmt.Errorf("series record: %w", err)
	}

	sr.NInst = decr(sr.NInst)
	st.NInst = decr(st.NInst)
	st.SOPClasses, _ = subCounted(st.SOPClasses, r.SOPClassUID)
	if sr.NInst == 0 {
		if err := tx.Bucket(bSeries).Delete(rk); err != nil {
			return "", err
		}
		if err := tx.Bucket(bSeriesUID).Delete([]byte(r.SeriesUID)); err != nil {
			return "", err
		}
		if err := tx.Bucket(bMDict).Delete(rk); err != nil {
			return "", err
		}
		st.NSeries = decr(st.NSeries)
		if sr.Modality != "" {
			var gone bool
			if st.Modalities, gone = subCounted(st.Modalities, sr.Modality); gone {
				if err := tx.Bucket(bxMod).Delete(indexKey(sr.Modality, r.StudyUID)); err != nil {
					return "", err
				}
			}
		}
		if err := addCount(tx, keySeries, -1); err != nil {
			return "", err
		}
	} else if err := tx.Bucket(bSeries).Put(rk, sr.encode()); err != nil {
		return "", err
	}

	if st.NInst == 0 {
		if err := removeStudy(tx, r.StudyUID, &st); err != nil {
			return "", err
		}
	} else if err := tx.Bucket(bStudies).Put(studyKey, st.encode()); err != nil {
		return "", err
	}
	if err := addCount(tx, keyInstances, -1); err != nil {
		return "", err
	}
	return r.ObjectKey, nil
}

// removeStudy deletes an empty study record, its index entries and its
// share of the patient record.
func removeStudy(tx *bolt.Tx, uid string, st *studyRec) error {
	attrs, err := st.Attrs.list(nil)
	if err != nil {
		return fmt.Errorf("study record: %w", err)
	}
	entries := studyIndexEntries(uid, attrs, st.SortKey)
	for _, m := range st.Modalities {
		entries = append(entries, idxEntry{bxMod, indexKey(m.Name, uid)})
	}
	for _, e := range entries {
		if err := tx.Bucket(e.bucket).Delete(e.key); err != nil {
			return fmt.Errorf("delete %s: %w", e.bucket, err)
		}
	}
	if err := tx.Bucket(bStudies).Delete([]byte(uid)); err != nil {
		return err
	}
	if err := tx.Bucket(bPatAdt).Delete([]byte(uid)); err != nil {
		return err
	}
	pk := slices.Concat(st.PatientID, []byte{0}, st.Issuer)
	pb := tx.Bucket(bPatients)
	if v := pb.Get(pk); v != nil {
		pr, err := decodePatient(v)
		if err != nil {
			return fmt.Errorf("patient record: %w", err)
		}
		pr.NStudies = decr(pr.NStudies)
		if pr.NStudies == 0 {
			err = pb.Delete(pk)
		} else {
			err = pb.Put(pk, pr.encode())
		}
		if err != nil {
			return err
		}
	}
	return addCount(tx, keyStudies, -1)
}

func decr(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	return n - 1
}
