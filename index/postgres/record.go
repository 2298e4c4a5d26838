package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/minipacs/minipacs/index"
)

// PutRecords writes recs in one transaction: all or none.
func (ix *Index) PutRecords(ctx context.Context, recs ...index.Record) error {
	for _, r := range recs {
		if err := index.CheckRecord(r); err != nil {
			return err
		}
	}
	return ix.inTx(ctx, "put records", func(tx pgx.Tx) error {
		for _, r := range recs {
			var err error
			if r.Delete {
				_, err = tx.Exec(ctx, `DELETE FROM records WHERE kind = $1 AND key = $2`, string(r.Kind), []byte(r.Key))
			} else {
				_, err = tx.Exec(ctx, `INSERT INTO records (kind, key, value) VALUES ($1, $2, $3)
ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value`, string(r.Kind), []byte(r.Key), nonNilBytes(r.Value))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// GetRecord returns the record of kind under key (index.ErrNotFound when
// none).
func (ix *Index) GetRecord(ctx context.Context, kind index.RecordKind, key string) ([]byte, error) {
	if err := index.CheckRecord(index.Record{Kind: kind, Key: "k"}); err != nil {
		return nil, err
	}
	var v []byte
	err := ix.read(ctx, "get record", func(q querier) error {
		err := q.QueryRow(ctx, `SELECT value FROM records WHERE kind = $1 AND key = $2`, string(kind), []byte(key)).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			return index.ErrNotFound
		}
		return err
	})
	return v, err
}

// ForEachRecord calls fn for each record of kind whose key starts with
// prefix, in key order (bytewise).
func (ix *Index) ForEachRecord(ctx context.Context, kind index.RecordKind, prefix string, fn func(key string, value []byte) error) error {
	if err := index.CheckRecord(index.Record{Kind: kind, Key: "k"}); err != nil {
		return err
	}
	return ix.read(ctx, "records", func(q querier) error {
		// The prefix range: keys >= prefix, and below the prefix's
		// successor; checked again with HasPrefix.
		rows, err := q.Query(ctx, `SELECT key, value FROM records WHERE kind = $1 AND key >= $2 ORDER BY key`, string(kind), []byte(prefix))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var kb, v []byte
			if err := rows.Scan(&kb, &v); err != nil {
				return err
			}
			k := string(kb)
			if !strings.HasPrefix(k, prefix) {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(k, v); err != nil {
				return callbackErr{err}
			}
		}
		return rows.Err()
	})
}

// CopyRecords copies every record of from into ix, in one transaction.
func (ix *Index) CopyRecords(ctx context.Context, from index.RecordSource) (int, error) {
	n := 0
	err := ix.inTx(ctx, "copy records", func(tx pgx.Tx) error {
		n = 0
		for _, k := range index.RecordKinds() {
			err := from.ForEachRecord(ctx, k, "", func(key string, v []byte) error {
				n++
				_, err := tx.Exec(ctx, `INSERT INTO records (kind, key, value) VALUES ($1, $2, $3)
ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value`, string(k), []byte(key), nonNilBytes(v))
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// UpdatePatient applies u to every study under its identifier in one
// transaction and returns their Study Instance UIDs (see
// index.Index.UpdatePatient).
func (ix *Index) UpdatePatient(ctx context.Context, u index.PatientUpdate) ([]string, error) {
	if err := u.Check(); err != nil {
		return nil, err
	}
	var changed []string
	err := ix.inTx(ctx, "update patient", func(tx pgx.Tx) error {
		changed = changed[:0]
		rows, err := tx.Query(ctx, `SELECT uid, attrs FROM studies WHERE patient_id = $1 AND issuer = $2
ORDER BY uid FOR UPDATE`, u.PatientID, u.IssuerOfPatientID)
		if err != nil {
			return err
		}
		type study struct {
			uid   string
			attrs []byte
		}
		var studies []study
		for rows.Next() {
			var st study
			if err := rows.Scan(&st.uid, &st.attrs); err != nil {
				rows.Close()
				return err
			}
			studies = append(studies, st)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		now := time.Now().UnixNano()
		for _, st := range studies {
			list, err := index.UnpackAttrs(st.attrs)
			if err != nil {
				return err
			}
			attrs, pid, issuer, demo, err := u.Apply(list, u.PatientID, u.IssuerOfPatientID)
			if err != nil {
				return err
			}
			keys := index.KeysOf(attrs)
			// The patient row first (the study refers to it); its
			// attributes are the latest study's, as in bbolt.
			if _, err := tx.Exec(ctx, `INSERT INTO patients (patient_id, issuer, attrs) VALUES ($1, $2, $3)
ON CONFLICT (patient_id, issuer) DO UPDATE SET attrs = EXCLUDED.attrs`, pid, issuer, index.PackAttrs(index.PatientGroup(attrs))); err != nil {
				return err
			}
			var date *string
			if keys.Date != "" {
				date = &keys.Date
			}
			_, err = tx.Exec(ctx, `UPDATE studies SET patient_id = $2, issuer = $3, demo = $4, study_date = $5,
pid_key = $6, accession = $7, names = $8, names_text = $9, attrs = $10, patient_version = $11, description = $12
WHERE uid = $1`,
				st.uid, pid, issuer, demo, date, keys.PatientID, keys.Accession, nonNil(keys.Names), namesText(keys.Names),
				index.PackAttrs(attrs), now, keys.Description)
			if err != nil {
				return err
			}
			changed = append(changed, st.uid)
		}
		if len(studies) > 0 {
			return dropPatientIfEmpty(ctx, tx, u.PatientID, u.IssuerOfPatientID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changed, nil
}
