package ingest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/minipacs/minipacs/index"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/storage"
)

// ReindexStats counts what Reindex did.
type ReindexStats struct {
	// Present counts the objects the index already referenced (left as
	// they are: reindex into a live shared index adds what is missing).
	Objects, Indexed, Present, Skipped int
}

// Reindex rebuilds the index from the object store alone: every object
// under "dicom/" is read, checked against the hash its key names, parsed
// and indexed as at ingest. Objects that are corrupt (hash mismatch) or no
// longer parse are skipped and logged, never deleted.
func (g *Ingester) Reindex(ctx context.Context) (ReindexStats, error) {
	var st ReindexStats
	l, ok := g.store.(storage.Lister)
	if !ok {
		return st, errors.New("ingest: reindex: the object store cannot list its objects")
	}
	var keys []string
	err := l.List(ctx, "dicom/", func(key string, size int64) error {
		keys = append(keys, key)
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("ingest: reindex: list: %w", err)
	}
	last := time.Now()
	for _, key := range keys {
		st.Objects++
		if ok, err := g.idx.HasObject(ctx, key); err != nil {
			return st, fmt.Errorf("ingest: reindex: %w", err)
		} else if ok {
			st.Present++
			continue
		}
		if err := g.reindexOne(ctx, key); err != nil {
			if ctx.Err() != nil {
				return st, ctx.Err()
			}
			st.Skipped++
			g.log.Warn("reindex: object skipped", "key", key, "err", err)
			continue
		}
		st.Indexed++
		if time.Since(last) > 5*time.Second {
			last = time.Now()
			g.log.Info("reindex progress", "objects", st.Objects, "of", len(keys))
		}
	}
	return st, nil
}

func (g *Ingester) reindexOne(ctx context.Context, key string) error {
	want, ok := keySum(key)
	if !ok {
		return errors.New("not an object key of minipacs")
	}
	rc, size, err := g.store.Get(ctx, key)
	if err != nil {
		return err
	}
	p, err := g.spool(ctx, rc, size)
	rc.Close()
	if err != nil {
		return err
	}
	defer p.Close()
	if hex.EncodeToString(p.SHA256[:]) != want {
		return errors.New("content does not match its hash: corrupt object")
	}
	f, err := part10.Parse(ctx, p.f, p.Size, g.limits)
	if err != nil {
		return err
	}
	ds := f.DataSet
	res := Result{
		SOPClassUID:    uidValue(ds, part10.TagSOPClassUID),
		SOPInstanceUID: uidValue(ds, part10.TagSOPInstanceUID),
		StudyUID:       uidValue(ds, part10.TagStudyInstanceUID),
		SeriesUID:      uidValue(ds, part10.TagSeriesInstanceUID),
	}
	for _, u := range []string{res.SOPClassUID, res.SOPInstanceUID, res.StudyUID, res.SeriesUID} {
		if !part10.ValidUID(u) {
			return errors.New("missing or invalid UID")
		}
	}
	inst, err := buildInstance(f, res, key, p)
	if err != nil {
		return err
	}
	if err := g.patientView(ctx, inst); err != nil {
		return err
	}
	inst.Stored = time.Now().UTC()
	if _, errs := g.idx.PutMany(ctx, []*index.Instance{inst}); errs[0] != nil {
		return fmt.Errorf("index put: %w", errs[0])
	}
	return nil
}
