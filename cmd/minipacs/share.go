package main

import (
	"context"

	"github.com/minipacs/minipacs/dicomweb"
	"github.com/minipacs/minipacs/dicomweb/security/share"
	"github.com/minipacs/minipacs/index"
)

// shareIndex gives package share its records (index kind r_share) and its
// study lookup, in the index.
type shareIndex struct{ idx index.Engine }

// PutRecord implements share.Records.
func (s shareIndex) PutRecord(ctx context.Context, key string, value []byte) error {
	return s.idx.PutRecords(ctx, index.Record{Kind: index.RecordShare, Key: key, Value: value})
}

// GetRecord implements share.Records (index.ErrNotFound is kind.NotFound).
func (s shareIndex) GetRecord(ctx context.Context, key string) ([]byte, error) {
	return s.idx.GetRecord(ctx, index.RecordShare, key)
}

// ForEachRecord implements share.Records.
func (s shareIndex) ForEachRecord(ctx context.Context, fn func(key string, value []byte) error) error {
	return s.idx.ForEachRecord(ctx, index.RecordShare, "", fn)
}

// Study implements share.Studies.
func (s shareIndex) Study(ctx context.Context, uid string) (share.Study, bool, error) {
	var st share.Study
	found := false
	err := s.idx.Search(ctx, index.Query{Level: index.LevelStudy, StudyUID: uid, Limit: 1}, func(r *index.Result) error {
		found = true
		sa := dicomweb.StudyOf(r)
		st = share.Study{UID: uid, PatientID: sa.PatientID, IssuerOfPatientID: sa.IssuerOfPatientID,
			PatientName: sa.PatientName, AccessionNumber: sa.AccessionNumber}
		return nil
	})
	return st, found, err
}
