package index

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// RecordKind names a set of records: what the hospital's systems told the
// archive (HL7 v2 orders and reports, the message journal), kept beside
// the instances. Unlike the rest of the index, records are not derived
// from stored objects: reindex carries them over (CopyRecords).
type RecordKind string

// The record kinds (one bucket each, see doc.go).
const (
	// RecordOrder: scheduled procedure steps (modality worklist items),
	// by order key.
	RecordOrder RecordKind = "r_order"
	// RecordReport: reports (ORU results), by report key.
	RecordReport RecordKind = "r_report"
	// RecordJournal: the acknowledgement sent for each HL7 message, by
	// sender and message control ID (duplicate control).
	RecordJournal RecordKind = "r_journal"
	// RecordPatient: the patient records of HL7 ADT (demographics, merges,
	// history), by PatientID NUL IssuerOfPatientID.
	RecordPatient RecordKind = "r_patient"
	// RecordShare: share links to one study (dicomweb/security/share), by
	// share id.
	RecordShare RecordKind = "r_share"
	// RecordGrant: break-glass grants (dicomweb/security/breakglass) of
	// an archive whose nodes share the index, by grant id.
	RecordGrant RecordKind = "r_grant"
)

// recordKinds are the record buckets, created by Open.
var recordKinds = []RecordKind{RecordOrder, RecordReport, RecordJournal, RecordPatient, RecordShare, RecordGrant}

// Record is one record write: Value under Key in the bucket of Kind, or
// the deletion of Key.
type Record struct {
	Kind   RecordKind
	Key    string
	Value  []byte
	Delete bool
}

// maxRecordKey bounds record keys (bbolt's limit is 32 KiB).
const maxRecordKey = 1024

func recordBucket(tx *bolt.Tx, k RecordKind) (*bolt.Bucket, error) {
	b := tx.Bucket([]byte(k))
	if b == nil {
		return nil, fmt.Errorf("unknown record kind %q", k)
	}
	return b, nil
}

// PutRecords writes recs in one durable transaction: all or none.
func (ix *Index) PutRecords(ctx context.Context, recs ...Record) error {
	return ix.update(ctx, "put records", func(tx *bolt.Tx) error {
		for _, r := range recs {
			if err := CheckRecord(r); err != nil {
				return err
			}
			b, err := recordBucket(tx, r.Kind)
			if err != nil {
				return err
			}
			if r.Delete {
				err = b.Delete([]byte(r.Key))
			} else {
				err = b.Put([]byte(r.Key), r.Value)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// GetRecord returns the record of kind under key (ErrNotFound when none).
func (ix *Index) GetRecord(ctx context.Context, kind RecordKind, key string) ([]byte, error) {
	var out []byte
	err := ix.view(ctx, "get record", func(tx *bolt.Tx) error {
		b, err := recordBucket(tx, kind)
		if err != nil {
			return err
		}
		v := b.Get([]byte(key))
		if v == nil {
			return ErrNotFound
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

// ForEachRecord calls fn for each record of kind whose key starts with
// prefix, in key order, within one read transaction; key and value are
// valid only during the call. An error of fn stops the scan and is
// returned.
func (ix *Index) ForEachRecord(ctx context.Context, kind RecordKind, prefix string, fn func(key string, value []byte) error) error {
	return ix.view(ctx, "records", func(tx *bolt.Tx) error {
		b, err := recordBucket(tx, kind)
		if err != nil {
			return err
		}
		c := b.Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(string(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// CopyRecords copies every record of from into ix (reindex keeps what the
// stored objects cannot tell: the records of the index it replaces), in
// one transaction.
func (ix *Index) CopyRecords(ctx context.Context, from RecordSource) (int, error) {
	n := 0
	err := ix.update(ctx, "copy records", func(dst *bolt.Tx) error {
		n = 0
		for _, k := range recordKinds {
			db := dst.Bucket([]byte(k))
			err := from.ForEachRecord(ctx, k, "", func(key string, v []byte) error {
				n++
				return db.Put([]byte(key), bytes.Clone(v))
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
