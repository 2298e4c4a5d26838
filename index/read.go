package index

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Lookup returns the Ref of an instance by SOP Instance UID alone.
func (ix *Index) Lookup(ctx context.Context, sopInstanceUID string) (*Ref, error) {
	var ref *Ref
	err := ix.view(ctx, "lookup", func(tx *bolt.Tx) error {
		r, err := getInst(tx, sopInstanceUID)
		if err != nil {
			return err
		}
		ref = r.ref()
		return nil
	})
	return ref, err
}

// Instance returns the Ref of an instance addressed by its hierarchy.
// series may be empty to mean any series of the study. ErrNotFound unless
// the instance exists in that study (and series).
func (ix *Index) Instance(ctx context.Context, study, series, sop string) (*Ref, error) {
	var ref *Ref
	err := ix.view(ctx, "instance", func(tx *bolt.Tx) error {
		r, err := getInstIn(tx, study, series, sop)
		if err != nil {
			return err
		}
		ref = r.ref()
		return nil
	})
	return ref, err
}

func getInst(tx *bolt.Tx, sop string) (instRec, error) {
	v := tx.Bucket(bInstances).Get([]byte(sop))
	if v == nil {
		return instRec{}, ErrNotFound
	}
	return decodeInst([]byte(sop), v)
}

func getInstIn(tx *bolt.Tx, study, series, sop string) (instRec, error) {
	r, err := getInst(tx, sop)
	if err != nil {
		return r, err
	}
	if r.StudyUID != study || (series != "" && r.SeriesUID != series) {
		return instRec{}, ErrNotFound
	}
	return r, nil
}

// Refs returns the instances of a study (series empty) or of one series,
// series by SeriesNumber then instances by InstanceNumber (see doc.go).
// ErrNotFound if the study or series does not exist.
func (ix *Index) Refs(ctx context.Context, study, series string) ([]Ref, error) {
	var refs []Ref
	err := ix.view(ctx, "refs", func(tx *bolt.Tx) error {
		sops, err := orderedSOPs(tx, study, series)
		if err != nil {
			return err
		}
		refs = make([]Ref, 0, len(sops))
		for _, s := range sops {
			r, err := getInst(tx, s)
			if err != nil {
				return fmt.Errorf("instance %s of hierarchy: %w", s, err)
			}
			refs = append(refs, *r.ref())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return refs, nil
}

// seriesEntry is a series of a study with its decoded record (aliasing the
// transaction's memory) and, when listed with a buffer, its attr list.
type seriesEntry struct {
	uid   string
	rec   seriesRec
	attrs []byte
}

// studySeries lists a study's series in result order. With buf set, their
// attr lists are unpacked into it (see packedAttrs.list).
func studySeries(tx *bolt.Tx, study string, buf *[]byte) ([]seriesEntry, error) {
	prefix := []byte(study + "\x00")
	var out []seriesEntry
	c := tx.Bucket(bSeries).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		rec, err := decodeSeries(v)
		if err != nil {
			return nil, fmt.Errorf("series record: %w", err)
		}
		var attrs []byte
		if buf != nil {
			if attrs, err = rec.Attrs.list(buf); err != nil {
				return nil, fmt.Errorf("series record: %w", err)
			}
		}
		out = append(out, seriesEntry{uid: string(k[len(prefix):]), rec: rec, attrs: attrs})
	}
	slices.SortFunc(out, cmpSeries)
	return out, nil
}

func cmpSeries(a, b seriesEntry) int {
	if a.rec.HasNumber != b.rec.HasNumber {
		if a.rec.HasNumber {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(a.rec.Number, b.rec.Number); c != 0 {
		return c
	}
	return cmp.Compare(a.uid, b.uid)
}

// seriesSOPs lists a series' SOP UIDs in instance order.
func seriesSOPs(tx *bolt.Tx, study, series string) ([]string, error) {
	prefix := []byte(study + "\x00" + series + "\x00")
	var out []string
	c := tx.Bucket(bHier).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) < len(prefix)+8 {
			return nil, fmt.Errorf("hier key: %w", errCorrupt)
		}
		out = append(out, string(k[len(prefix)+8:]))
	}
	return out, nil
}

// sopItem is an instance with its series.
type sopItem struct{ series, sop string }

// orderedSOPs lists the SOP UIDs of a study or series in result order.
func orderedSOPs(tx *bolt.Tx, study, series string) ([]string, error) {
	items, err := orderedItems(tx, study, series)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.sop
	}
	return out, nil
}

// orderedItems lists the instances of a study or series in result order.
func orderedItems(tx *bolt.Tx, study, series string) ([]sopItem, error) {
	if study == "" {
		return nil, ErrNotFound
	}
	var out []sopItem
	add := func(series string) error {
		sops, err := seriesSOPs(tx, study, series)
		if err != nil {
			return err
		}
		for _, s := range sops {
			out = append(out, sopItem{series: series, sop: s})
		}
		return nil
	}
	if series != "" {
		if tx.Bucket(bSeries).Get(seriesKey(study, series)) == nil {
			return nil, ErrNotFound
		}
		return out, add(series)
	}
	if tx.Bucket(bStudies).Get([]byte(study)) == nil {
		return nil, ErrNotFound
	}
	ss, err := studySeries(tx, study, nil)
	if err != nil {
		return nil, err
	}
	for _, s := range ss {
		if err := add(s.uid); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// metadataBatchBytes bounds the JSON copied per read transaction by
// Metadata.
const metadataBatchBytes = 1 << 20

// Metadata calls fn with the stored DICOM JSON object of each instance of
// a study (series and sop empty), a series (sop empty) or one instance
// (series may be empty), in Refs order. fn runs outside any transaction;
// json is only valid during the call (the buffer is reused). Instances
// deleted while Metadata runs are skipped. ErrNotFound if the study,
// series or instance does not exist. An error from fn stops the walk and
// is returned as is.
func (ix *Index) Metadata(ctx context.Context, study, series, sop string, fn func(json []byte) error) error {
	var items []sopItem
	var over *PatientOverlay
	err := ix.view(ctx, "metadata", func(tx *bolt.Tx) error {
		var err error
		if over, err = patientOverlay(tx, study); err != nil {
			return err
		}
		if sop != "" {
			r, err := getInstIn(tx, study, series, sop)
			if err != nil {
				return err
			}
			items = []sopItem{{series: r.SeriesUID, sop: sop}}
			return nil
		}
		items, err = orderedItems(tx, study, series)
		return err
	})
	if err != nil {
		return err
	}
	var buf, scratch []byte
	var ends []int
	for len(items) > 0 {
		buf, ends = buf[:0], ends[:0]
		n := 0
		err := ix.view(ctx, "metadata", func(tx *bolt.Tx) error {
			b, db := tx.Bucket(bMetadata), tx.Bucket(bMDict)
			var dictSeries string
			var d *seriesDict
			for n < len(items) && (n == 0 || len(buf) < metadataBatchBytes) {
				it := items[n]
				v := b.Get([]byte(it.sop))
				n++
				if v == nil {
					continue
				}
				var err error
				buf, err = appendMetadata(buf, v, func() (*seriesDict, error) {
					if d != nil && dictSeries == it.series {
						return d, nil
					}
					key := seriesKey(study, it.series)
					dv := db.Get(key)
					if dv == nil {
						return nil, fmt.Errorf("metadata of %s: %w: no series dictionary", it.sop, errCorrupt)
					}
					var err error
					if d, err = ix.dicts.lookup(key, dv); err != nil {
						return nil, err
					}
					dictSeries = it.series
					return d, nil
				})
				if err != nil {
					return fmt.Errorf("instance %s: %w", it.sop, err)
				}
				ends = append(ends, len(buf))
			}
			return nil
		})
		if err != nil {
			return err
		}
		items = items[n:]
		start := 0
		for _, end := range ends {
			js := buf[start:end:end]
			if over != nil {
				scratch = over.Apply(scratch[:0], js)
				js = scratch
			}
			if err := fn(js); err != nil {
				return err
			}
			start = end
		}
		if cap(buf) > 4*metadataBatchBytes {
			buf = nil // do not keep a huge buffer around
		}
	}
	return nil
}

// HasObject reports whether an object key is referenced by the index.
func (ix *Index) HasObject(ctx context.Context, key string) (bool, error) {
	var ok bool
	err := ix.view(ctx, "has object", func(tx *bolt.Tx) error {
		ok = tx.Bucket(bObjects).Get([]byte(key)) != nil
		return nil
	})
	return ok, err
}

// objectBatch is the number of keys ForEachObject reads per transaction.
const objectBatch = 1000

// ForEachObject calls fn with every object key referenced by the index, in
// key order. fn runs outside any transaction, so it may do I/O; keys added
// or removed meanwhile may or may not be seen. An error from fn stops the
// walk and is returned as is.
func (ix *Index) ForEachObject(ctx context.Context, fn func(key string) error) error {
	var after []byte
	keys := make([]string, 0, objectBatch)
	for {
		keys = keys[:0]
		err := ix.view(ctx, "objects", func(tx *bolt.Tx) error {
			c := tx.Bucket(bObjects).Cursor()
			k, _ := c.First()
			if after != nil {
				k, _ = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, _ = c.Next()
				}
			}
			for ; k != nil && len(keys) < objectBatch; k, _ = c.Next() {
				keys = append(keys, string(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := fn(k); err != nil {
				return err
			}
		}
		if len(keys) < objectBatch {
			return nil
		}
		after = []byte(keys[len(keys)-1])
	}
}
