package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/minipacs/minipacs/index"
)

const refColumns = `i.study_uid, i.series_uid, i.sop_uid, i.sop_class, i.tsuid, i.object_key, i.sha256, i.size`

func scanRef(row pgx.Row, layout bool) (*index.Ref, error) {
	var r index.Ref
	var sum []byte
	dst := []any{&r.StudyUID, &r.SeriesUID, &r.SOPInstanceUID, &r.SOPClassUID, &r.TransferSyntaxUID, &r.ObjectKey, &sum, &r.Size}
	if layout {
		dst = append(dst, &r.Layout)
	}
	if err := row.Scan(dst...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, index.ErrNotFound
		}
		return nil, err
	}
	copy(r.SHA256[:], sum)
	if len(r.Layout) == 0 {
		r.Layout = nil
	}
	return &r, nil
}

// Lookup returns the Ref of an instance by SOP Instance UID alone.
func (ix *Index) Lookup(ctx context.Context, sop string) (*index.Ref, error) {
	var ref *index.Ref
	err := ix.read(ctx, "lookup", func(q querier) error {
		var err error
		ref, err = scanRef(q.QueryRow(ctx, `SELECT `+refColumns+`, i.layout FROM instances i WHERE i.sop_uid = $1`, sop), true)
		return err
	})
	return ref, err
}

// Instance returns the Ref of an instance in its study (and series, when
// not empty).
func (ix *Index) Instance(ctx context.Context, study, series, sop string) (*index.Ref, error) {
	var ref *index.Ref
	err := ix.read(ctx, "instance", func(q querier) error {
		var err error
		ref, err = scanRef(q.QueryRow(ctx, `SELECT `+refColumns+`, i.layout FROM instances i
WHERE i.sop_uid = $1 AND i.study_uid = $2 AND ($3 = '' OR i.series_uid = $3)`, sop, study, series), true)
		return err
	})
	return ref, err
}

// refsSQL lists a study's (or series') instances in result order.
const refsSQL = `SELECT ` + refColumns + `, i.layout FROM instances i JOIN series x ON x.uid = i.series_uid
WHERE i.study_uid = $1 AND ($2 = '' OR i.series_uid = $2)
ORDER BY x.number, x.uid, i.number, i.sop_uid`

// Refs returns the instances of a study (series empty) or of one series,
// series by SeriesNumber then instances by InstanceNumber.
// index.ErrNotFound if there are none.
func (ix *Index) Refs(ctx context.Context, study, series string) ([]index.Ref, error) {
	var refs []index.Ref
	err := ix.read(ctx, "refs", func(q querier) error {
		refs = refs[:0]
		rows, err := q.Query(ctx, refsSQL, study, series)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRef(rows, true)
			if err != nil {
				return err
			}
			refs = append(refs, *r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, index.ErrNotFound
	}
	return refs, nil
}

// metadataBatch is the number of instances whose metadata one query reads.
const metadataBatch = 64

// Metadata calls fn with the DICOM JSON of each instance of a study
// (series and sop empty), a series (sop empty) or one instance, in Refs
// order, the patient record's attributes in place of the objects' for a
// study whose patient comes from a record. fn runs outside any query; the
// metadata is read in batches. Instances deleted meanwhile are skipped.
// index.ErrNotFound if nothing is there.
func (ix *Index) Metadata(ctx context.Context, study, series, sop string, fn func(json []byte) error) error {
	var sops []string
	var overlay *index.PatientOverlay
	err := ix.read(ctx, "metadata", func(q querier) error {
		var attrs []byte
		var pv *int64
		err := q.QueryRow(ctx, `SELECT attrs, patient_version FROM studies WHERE uid = $1`, study).Scan(&attrs, &pv)
		if errors.Is(err, pgx.ErrNoRows) {
			return index.ErrNotFound
		}
		if err != nil {
			return err
		}
		if pv != nil {
			list, err := index.UnpackAttrs(attrs)
			if err != nil {
				return err
			}
			overlay = index.NewPatientOverlay(list)
		}
		rows, err := q.Query(ctx, `SELECT i.sop_uid FROM instances i JOIN series x ON x.uid = i.series_uid
WHERE i.study_uid = $1 AND ($2 = '' OR i.series_uid = $2) AND ($3 = '' OR i.sop_uid = $3)
ORDER BY x.number, x.uid, i.number, i.sop_uid`, study, series, sop)
		if err != nil {
			return err
		}
		sops, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return err
	}
	if len(sops) == 0 {
		return index.ErrNotFound
	}
	var buf, scratch []byte
	for len(sops) > 0 {
		n := min(len(sops), metadataBatch)
		batch := sops[:n]
		sops = sops[n:]
		got := make(map[string][]byte, n)
		err := ix.read(ctx, "metadata", func(q querier) error {
			rows, err := q.Query(ctx, `SELECT sop_uid, metadata FROM instances WHERE sop_uid = ANY($1)`, batch)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var s string
				var v []byte
				if err := rows.Scan(&s, &v); err != nil {
					return err
				}
				got[s] = v
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		for _, s := range batch {
			v, ok := got[s]
			if !ok {
				continue
			}
			js, err := index.UnpackMetadata(buf[:0], v)
			if err != nil {
				return err
			}
			buf = js
			if overlay != nil {
				scratch = overlay.Apply(scratch[:0], js)
				js = scratch
			}
			if err := fn(js); err != nil {
				return err
			}
		}
	}
	return nil
}

// HasObject reports whether an object key is referenced by the index.
func (ix *Index) HasObject(ctx context.Context, key string) (bool, error) {
	var ok bool
	err := ix.read(ctx, "has object", func(q querier) error {
		return q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM instances WHERE object_key = $1)`, key).Scan(&ok)
	})
	return ok, err
}

// walkBatch is the number of rows ForEachObject and ForEachInstance read
// per query.
const walkBatch = 1000

// ForEachObject calls fn with every referenced object key, in key order,
// outside any query (keys read in batches).
func (ix *Index) ForEachObject(ctx context.Context, fn func(key string) error) error {
	after := ""
	first := true
	for {
		var keys []string
		err := ix.read(ctx, "objects", func(q querier) error {
			rows, err := q.Query(ctx, `SELECT object_key FROM instances WHERE $1 OR object_key > $2 ORDER BY object_key LIMIT $3`,
				first, after, walkBatch)
			if err != nil {
				return err
			}
			keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := fn(k); err != nil {
				return err
			}
		}
		if len(keys) < walkBatch {
			return nil
		}
		after, first = keys[len(keys)-1], false
	}
}

// ForEachInstance calls fn with every indexed instance (no Layout), in
// SOP Instance UID order, outside any query.
func (ix *Index) ForEachInstance(ctx context.Context, fn func(ref index.Ref) error) error {
	after := ""
	first := true
	for {
		var refs []index.Ref
		err := ix.read(ctx, "instances", func(q querier) error {
			refs = refs[:0]
			rows, err := q.Query(ctx, `SELECT `+refColumns+` FROM instances i WHERE $1 OR i.sop_uid > $2 ORDER BY i.sop_uid LIMIT $3`,
				first, after, walkBatch)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				r, err := scanRef(rows, false)
				if err != nil {
					return err
				}
				refs = append(refs, *r)
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		for _, r := range refs {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(refs) < walkBatch {
			return nil
		}
		after, first = refs[len(refs)-1].SOPInstanceUID, false
	}
}

// Stats returns the numbers of indexed studies, series and instances
// (counted: there are no counter rows for nodes to contend on).
func (ix *Index) Stats(ctx context.Context) (studies, series, instances int, err error) {
	err = ix.read(ctx, "stats", func(q querier) error {
		return q.QueryRow(ctx, `SELECT (SELECT count(*) FROM studies), (SELECT count(*) FROM series),
(SELECT count(*) FROM instances)`).Scan(&studies, &series, &instances)
	})
	return studies, series, instances, err
}

// PatientVersion returns the time of the last patient record change of a
// study's patient attributes (zero when they are its objects' own).
func (ix *Index) PatientVersion(ctx context.Context, study string) (time.Time, error) {
	var t time.Time
	err := ix.read(ctx, "patient version", func(q querier) error {
		var pv *int64
		err := q.QueryRow(ctx, `SELECT patient_version FROM studies WHERE uid = $1`, study).Scan(&pv)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err == nil && pv != nil {
			t = time.Unix(0, *pv)
		}
		return err
	})
	return t, err
}

// PatientAttrs returns the patient attributes (group 0010) a patient
// record gives a study, in tag order; nil when they are its objects' own.
func (ix *Index) PatientAttrs(ctx context.Context, study string) ([]index.Attr, error) {
	var out []index.Attr
	err := ix.read(ctx, "patient attributes", func(q querier) error {
		var attrs []byte
		err := q.QueryRow(ctx, `SELECT attrs FROM studies WHERE uid = $1 AND patient_version IS NOT NULL`, study).Scan(&attrs)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		list, err := index.UnpackAttrs(attrs)
		out = index.PatientGroup(list)
		return err
	})
	return out, err
}
