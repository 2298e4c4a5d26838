package index

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// Page fill. bbolt splits a page that outgrows its size at
// Bucket.FillPercent of the page (not persisted: set per transaction).
// Keys that are appended after recently written keys (UIDs from a root
// with a counter, the instances of a series in hier, studies in x_date on
// a typical day, one or several uploads at once) land at the right edge of
// their part of the tree, so a split at 90% leaves the left page nearly
// full for good, where bbolt's default of 50% leaves every page half
// empty. Keys that arrive in random order (UUID-derived UIDs, patient IDs,
// names) land anywhere, and a 90% split leaves a nearly full page that
// the next random key splits again: measured on 12,000 one-instance
// studies with 2.25 UIDs, such buckets ended 36-40% full, against about
// 69% with 50%. So each bucket's threshold follows how its keys arrive.
//
// A new key appends when its predecessor in the bucket (the greatest key
// below it) is one of the bucket's last recentKeys keys written: true for
// ascending keys and for up to about recentKeys ascending streams
// interleaved in any order, and rarely for random keys (about
// recentKeys/N in a bucket of N keys). Many short streams (a name's
// studies in x_pn, say) come out in between, and their appends land
// inside pages as random keys do, hence the threshold of 75% (chosen on
// cmd/benchindex's and cmd/gencorpus's data: buckets 54-88% full, where a
// threshold of 50% left x_pn 36% full, and one of 90% left studies and
// mdict about 60% full).

// Split thresholds.
const (
	fillAppend = 0.9
	fillRandom = 0.5 // bbolt's default
)

const (
	recentKeys   = 64       // keys remembered per bucket
	sampleEvery  = 4        // one put in 4 is looked at (a cursor seek each)
	appendWeight = 1.0 / 32 // weight of a sample in the moving average
	appendAbove  = 0.75     // ratio of appends from which to fill at 90%
)

// keyOrder tracks, per bucket, the ratio of puts that append. Only the
// committer goroutine uses it.
type keyOrder struct {
	m map[string]*bucketOrder
}

type bucketOrder struct {
	recent map[string]struct{}
	ring   [recentKeys]string
	n      int     // keys written
	ratio  float64 // starts at 0: random until shown otherwise
}

// observe records a key about to be written to bucket b (named name) in
// the current transaction.
func (o *keyOrder) observe(b *bolt.Bucket, name, key []byte) {
	if o.m == nil {
		o.m = map[string]*bucketOrder{}
	}
	bo := o.m[string(name)]
	if bo == nil {
		bo = &bucketOrder{recent: make(map[string]struct{}, recentKeys)}
		o.m[string(name)] = bo
	}
	if _, ok := bo.recent[string(key)]; ok {
		return // a key written lately (the study of the next instance)
	}
	if bo.n%sampleEvery == 0 && bo.n >= recentKeys {
		c := b.Cursor()
		k, _ := c.Seek(key)
		if bytes.Equal(k, key) {
			return // an update, or a study or series already there
		}
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		up := 0.0
		if _, ok := bo.recent[string(k)]; k != nil && ok {
			up = 1
		}
		bo.ratio += (up - bo.ratio) * appendWeight
	}
	slot := &bo.ring[bo.n%recentKeys]
	if bo.n >= recentKeys {
		delete(bo.recent, *slot)
	}
	*slot = string(key)
	bo.recent[*slot] = struct{}{}
	bo.n++
}

// appending reports whether bucket's keys have been arriving as appends.
func (o *keyOrder) appending(bucket []byte) bool {
	bo := o.m[string(bucket)]
	return bo != nil && bo.ratio >= appendAbove
}

// observePut records the keys a prepared instance writes (or would write,
// for a study or series that already exists), before it is applied in tx.
func (o *keyOrder) observePut(tx *bolt.Tx, p *prepared) {
	obs := func(name, key []byte) { o.observe(tx.Bucket(name), name, key) }
	obs(bInstances, []byte(p.sop))
	obs(bMetadata, []byte(p.sop))
	obs(bHier, p.hierKey)
	obs(bSeries, p.seriesKey)
	obs(bMDict, p.seriesKey)
	obs(bSeriesUID, []byte(p.series))
	obs(bStudies, []byte(p.study))
	obs(bPatients, p.patientKey)
	obs(bObjects, []byte(p.in.ObjectKey))
	for _, e := range p.studyIdx {
		obs(e.bucket, e.key)
	}
	if p.modality != "" {
		obs(bxMod, indexKey(p.modality, p.study))
	}
}

// setFill sets the split threshold of every bucket for a write
// transaction; bbolt reads it when the transaction commits.
func (o *keyOrder) setFill(tx *bolt.Tx) {
	for _, name := range allBuckets {
		f := fillRandom
		if o.appending(name) {
			f = fillAppend
		}
		tx.Bucket(name).FillPercent = f
	}
}
