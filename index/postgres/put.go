package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/minipacs/minipacs/index"
)

// Put indexes one instance (see PutMany).
func (ix *Index) Put(ctx context.Context, inst *index.Instance) (index.PutResult, error) {
	res, errs := ix.PutMany(ctx, []*index.Instance{inst})
	return res[0], errs[0]
}

// PutMany indexes instances in one transaction, with a result and an error
// for each, as index.Index.PutMany does: an identical instance already
// indexed is Existed; other content under a known SOP Instance UID is
// index.ErrConflict (or replaces it with Options.Replace); a UID known
// under another study or series, or an object key indexed for another
// instance, is index.ErrConflict. Uniqueness is the database's: two nodes
// putting the same instance at once end with one row, the second seeing
// it as Existed. A nil error means committed (durable as the server's
// synchronous_commit makes it).
func (ix *Index) PutMany(ctx context.Context, insts []*index.Instance) ([]index.PutResult, []error) {
	results := make([]index.PutResult, len(insts))
	errs := make([]error, len(insts))
	preps := make([]*index.Prepared, len(insts))
	n := 0
	for i, in := range insts {
		p, err := index.Prepare(in)
		if err != nil {
			errs[i] = fmt.Errorf("index: put: %w", err)
			continue
		}
		preps[i] = p
		n++
	}
	if n == 0 {
		return results, errs
	}
	// Members in one global order (patient, study, series, instance):
	// transactions of several nodes then wait for each other's rows in
	// the same order and never deadlock.
	order := make([]int, 0, n)
	for i, p := range preps {
		if p != nil {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int {
		x, y := preps[a].In, preps[b].In
		return cmp.Or(cmp.Compare(x.PatientID, y.PatientID), cmp.Compare(x.IssuerOfPatientID, y.IssuerOfPatientID),
			cmp.Compare(x.StudyUID, y.StudyUID), cmp.Compare(x.SeriesUID, y.SeriesUID),
			cmp.Compare(x.SOPInstanceUID, y.SOPInstanceUID), cmp.Compare(a, b))
	})
	start := time.Now()
	var memberErrs []error
	err := ix.inTx(ctx, "put", func(tx pgx.Tx) error {
		memberErrs = make([]error, len(insts))
		for _, i := range order {
			p := preps[i]
			res, merr, err := ix.apply(ctx, tx, p)
			if err != nil {
				return err
			}
			results[i], memberErrs[i] = res, merr
		}
		return nil
	})
	if err != nil {
		for i, p := range preps {
			if p != nil {
				errs[i] = err
			}
		}
		return make([]index.PutResult, len(insts)), errs
	}
	for i, p := range preps {
		if p != nil && memberErrs[i] != nil {
			errs[i] = fmt.Errorf("index: put: %w", memberErrs[i])
			results[i] = index.PutResult{}
		}
	}
	ix.commits.Add(1)
	ix.puts.Add(uint64(n))
	if f := ix.onCommit.Load(); f != nil {
		(*f)(time.Since(start))
	}
	return results, errs
}

// existing is what apply reads before it writes.
const existingSQL = `
SELECT i.study_uid, i.series_uid, i.sha256, i.object_key, s.study_uid, o.sop_uid
FROM (SELECT 1) AS one
LEFT JOIN instances i ON i.sop_uid = $1
LEFT JOIN series s ON s.uid = $2
LEFT JOIN instances o ON o.object_key = $3`

// insertSQL creates the patient and study (when the study is new: a study
// keeps its first patient), the series when it is new, and the instance,
// in one statement. It answers whether the study and the
// instance were inserted, and the demographics of a study that existed.
const insertSQL = `
WITH p AS (
	INSERT INTO patients (patient_id, issuer, attrs)
	SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM studies WHERE uid = $4)
	ON CONFLICT DO NOTHING
), st AS (
	INSERT INTO studies (uid, patient_id, issuer, demo, sort_key, study_date, pid_key, accession,
		names, names_text, attrs, created, patient_version, description)
	VALUES ($4, $1, $2, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $29)
	ON CONFLICT DO NOTHING
	RETURNING uid
), se AS (
	INSERT INTO series (uid, study_uid, number, modality, attrs) VALUES ($15, $4, $16, $17, $18)
	ON CONFLICT DO NOTHING
), i AS (
	INSERT INTO instances (sop_uid, study_uid, series_uid, sop_class, tsuid, sha256, object_key, size,
		stored, number, layout, attrs, metadata)
	VALUES ($19, $4, $15, $20, $21, $22, $23, $24, $13, $25, $26, $27, $28)
	ON CONFLICT DO NOTHING
	RETURNING sop_uid
)
SELECT (SELECT count(*) FROM st), (SELECT count(*) FROM i),
	(SELECT demo FROM studies WHERE uid = $4)`

// apply puts one prepared instance inside tx. A member error leaves tx
// untouched; any other error aborts the transaction (retried when
// retryable).
func (ix *Index) apply(ctx context.Context, tx pgx.Tx, p *index.Prepared) (res index.PutResult, memberErr, txErr error) {
	res, done, memberErr, txErr := ix.check(ctx, tx, p)
	if done || memberErr != nil || txErr != nil {
		return res, memberErr, txErr
	}
	inserted, mismatch, err := ix.insert(ctx, tx, p)
	if err != nil {
		return res, nil, err
	}
	if !inserted {
		// Another transaction committed this SOP instance (or object
		// key) since our read, and the insert waited for it: nothing was
		// written (its study and series exist too), so the check now
		// tells what it is.
		res2, done, memberErr, txErr := ix.check(ctx, tx, p)
		if memberErr != nil || txErr != nil {
			return res2, memberErr, txErr
		}
		if !done || res.ReplacedObjectKey != "" {
			return res, nil, errRetry
		}
		return res2, nil, nil
	}
	res.PatientMismatch = mismatch
	return res, nil, nil
}

// check reads what an instance would change: done with the result when
// the instance is already indexed with the same content, a member error
// for a conflict. With Options.Replace it removes an instance of other
// content (res.ReplacedObjectKey).
func (ix *Index) check(ctx context.Context, tx pgx.Tx, p *index.Prepared) (res index.PutResult, done bool, memberErr, txErr error) {
	in := p.In
	var (
		oldStudy, oldSeries, oldKey, seriesOwner, keyOwner *string
		oldSum                                             []byte
	)
	err := tx.QueryRow(ctx, existingSQL, in.SOPInstanceUID, in.SeriesUID, in.ObjectKey).
		Scan(&oldStudy, &oldSeries, &oldSum, &oldKey, &seriesOwner, &keyOwner)
	if err != nil {
		return res, false, nil, err
	}
	replacing := false
	if oldStudy != nil {
		if *oldStudy != in.StudyUID || *oldSeries != in.SeriesUID {
			return res, false, fmt.Errorf("%w: SOP instance already stored in another study or series", index.ErrConflict), nil
		}
		if string(oldSum) == string(in.SHA256[:]) {
			return index.PutResult{Existed: true, ExistingObjectKey: *oldKey}, true, nil, nil
		}
		if !ix.opt.Replace {
			return res, false, index.ErrConflict, nil
		}
		replacing = true
	}
	if seriesOwner != nil && *seriesOwner != in.StudyUID {
		return res, false, fmt.Errorf("%w: series already stored in another study", index.ErrConflict), nil
	}
	if keyOwner != nil && *keyOwner != in.SOPInstanceUID {
		return res, false, fmt.Errorf("%w: object key already indexed for another instance", index.ErrConflict), nil
	}
	if replacing {
		// The old instance goes with what depends on it (an empty series,
		// study, patient), then the new one comes as a new instance.
		if _, err := removeInstances(ctx, tx, []string{in.SOPInstanceUID}); err != nil {
			return res, false, nil, fmt.Errorf("replace: %w", err)
		}
		if *oldKey != in.ObjectKey {
			res.ReplacedObjectKey = *oldKey
		}
	}
	return res, false, nil, nil
}

// insert writes a checked instance, with its patient, study and series
// when they are new. inserted is false when another transaction put the
// instance (or its object key) first; mismatch tells that the study
// existed with other patient demographics.
func (ix *Index) insert(ctx context.Context, tx pgx.Tx, p *index.Prepared) (inserted, mismatch bool, err error) {
	in := p.In
	keys := index.KeysOf(in.Study)
	var date *string
	if keys.Date != "" {
		date = &keys.Date
	}
	var pv *int64
	if in.PatientFromRecord {
		v := time.Now().UnixNano()
		pv = &v
	}
	var seriesNum, instNum *int64
	if p.HasSeriesNumber {
		seriesNum = &p.SeriesNumber
	}
	if p.HasInstanceNumber {
		instNum = &p.InstanceNumber
	}
	stored := in.Stored
	if stored.IsZero() {
		stored = time.Now()
	}
	var studyNew, instNew int
	var demo []byte
	err = tx.QueryRow(ctx, insertSQL,
		in.PatientID, in.IssuerOfPatientID, p.PatientAttrs, // 1-3
		in.StudyUID, p.Demographics, p.SortKey, date, keys.PatientID, keys.Accession, // 4-9
		nonNil(keys.Names), namesText(keys.Names), p.StudyAttrs, stored, pv, // 10-14
		in.SeriesUID, seriesNum, p.Modality, p.SeriesAttrs, // 15-18
		in.SOPInstanceUID, in.SOPClassUID, in.TransferSyntaxUID, in.SHA256[:], in.ObjectKey, in.Size, // 19-24
		instNum, nonNilBytes(in.Layout), p.InstanceAttrs, p.Metadata, // 25-28
		keys.Description, // 29
	).Scan(&studyNew, &instNew, &demo)
	if err != nil || instNew == 0 {
		return false, false, err
	}
	if studyNew == 0 {
		if demo == nil {
			// The study was committed by another node after this
			// statement's snapshot.
			if err := tx.QueryRow(ctx, "SELECT demo FROM studies WHERE uid = $1", in.StudyUID).Scan(&demo); err != nil {
				return false, false, err
			}
		}
		mismatch = string(demo) != string(p.Demographics)
		if in.PatientFromRecord {
			if _, err := tx.Exec(ctx, `UPDATE studies SET patient_version = $2 WHERE uid = $1 AND patient_version IS NULL`,
				in.StudyUID, time.Now().UnixNano()); err != nil {
				return false, false, err
			}
		}
	}
	return true, mismatch, nil
}

// namesText is the names of a study joined for trigram matching: each
// group between '|' (which names do not contain... and if they do, the
// text only matches more, and every candidate is checked).
func namesText(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return "|" + strings.Join(names, "|") + "|"
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// removeInstances deletes instances and then the series, studies and
// patients left without any, and returns the object keys of the
// instances in the order of sops (missing ones skipped).
func removeInstances(ctx context.Context, tx pgx.Tx, sops []string) ([]string, error) {
	rows, err := tx.Query(ctx, `DELETE FROM instances WHERE sop_uid = ANY($1) RETURNING sop_uid, object_key, series_uid, study_uid`, sops)
	if err != nil {
		return nil, err
	}
	keyOf := map[string]string{}
	var series, studies []string
	for rows.Next() {
		var sop, key, se, st string
		if err := rows.Scan(&sop, &key, &se, &st); err != nil {
			rows.Close()
			return nil, err
		}
		keyOf[sop] = key
		series, studies = appendNew(series, se), appendNew(studies, st)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(keyOf) == 0 {
		return nil, nil
	}
	if _, err := tx.Exec(ctx, `DELETE FROM series s WHERE s.uid = ANY($1)
AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.series_uid = s.uid)`, series); err != nil {
		return nil, err
	}
	var pats [][2]string
	rows, err = tx.Query(ctx, `
DELETE FROM studies s WHERE s.uid = ANY($1)
AND NOT EXISTS (SELECT 1 FROM series x WHERE x.study_uid = s.uid)
RETURNING patient_id, issuer`, studies)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var p [2]string
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			rows.Close()
			return nil, err
		}
		pats = append(pats, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, p := range pats {
		if err := dropPatientIfEmpty(ctx, tx, p[0], p[1]); err != nil {
			return nil, err
		}
	}
	keys := make([]string, 0, len(keyOf))
	for _, s := range sops {
		if k, ok := keyOf[s]; ok {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// dropPatientIfEmpty deletes a patient row without studies.
func dropPatientIfEmpty(ctx context.Context, tx pgx.Tx, pid, issuer string) error {
	_, err := tx.Exec(ctx, `DELETE FROM patients p WHERE p.patient_id = $1 AND p.issuer = $2
AND NOT EXISTS (SELECT 1 FROM studies s WHERE s.patient_id = $1 AND s.issuer = $2)`, pid, issuer)
	return err
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// Delete removes a study (series and sop empty), a series (sop empty) or
// one instance (series may be empty) and returns the object keys of the
// removed instances, in Refs order; series, studies and patients left
// empty go too. index.ErrNotFound if nothing matched.
func (ix *Index) Delete(ctx context.Context, study, series, sop string) ([]string, error) {
	var keys []string
	err := ix.inTx(ctx, "delete", func(tx pgx.Tx) error {
		if study == "" {
			return index.ErrNotFound
		}
		sops, err := selectSOPs(ctx, tx, study, series, sop)
		if err != nil {
			return err
		}
		if len(sops) == 0 {
			return index.ErrNotFound
		}
		keys, err = removeInstances(ctx, tx, sops)
		return err
	})
	if err != nil {
		if errors.Is(err, index.ErrNotFound) {
			return nil, index.ErrNotFound
		}
		return nil, err
	}
	return keys, nil
}

// selectSOPs lists the SOP Instance UIDs under study/series/sop, by
// series UID then instance order (as bbolt's Delete gives their keys).
func selectSOPs(ctx context.Context, q querier, study, series, sop string) ([]string, error) {
	rows, err := q.Query(ctx, `
SELECT i.sop_uid FROM instances i
WHERE i.study_uid = $1 AND ($2 = '' OR i.series_uid = $2) AND ($3 = '' OR i.sop_uid = $3)
ORDER BY i.series_uid, i.number, i.sop_uid`, study, series, sop)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
