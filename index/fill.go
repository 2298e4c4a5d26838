package index

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// Page fill. bbolt splits a page that outgrows its size at
// Bucket.FillPercent of the page (not persisted: set per transaction).
// Keys that arrive in ascending order (the instances of a series in
// hier, studies in x_date on a typical day, UIDs from a root with a
// counter) only ever land at the right edge of the tree, so a split at 90%
// leaves the left page nearly full for good. Keys that arrive in random
// order (UUID-derived UIDs, patient IDs, names) land anywhere, and a 90%
// split leaves a nearly full page that the next random key splits again:
// measured on 12,000 one-instance studies with 2.25 UIDs, such buckets
// ended 36-40% full, against about 69% with bbolt's default of 50%. So
// each bucket's threshold follows how its keys have been arriving.

// Split thresholds.
const (
	fillAscending = 0.9
	fillRandom    = 0.5 // bbolt's default
)

// A put is near the right edge when its key is above the least of the
// bucket's last orderWindow distinct keys: always for ascending keys, also
// for up to orderWindow ascending streams taking turns (several uploads
// at once), and with probability orderWindow/(orderWindow+1) = 0.8 for
// random keys. Streams interleaved at random (the studies of several
// modalities in x_mod) come out in between and are filled as random. ascWeight is the
// weight of one put in a bucket's ratio of such puts (an exponential
// moving average over about the last 64 distinct keys), and ascThreshold
// the ratio at which the bucket is filled as ascending: 4.3 standard
// deviations of that average above 0.8.
const (
	orderWindow  = 4
	ascWeight    = 1.0 / 64
	ascThreshold = 0.95
)

// keyOrder tracks, per bucket, the ratio of puts near the right edge.
// Only the committer goroutine uses it.
type keyOrder struct {
	m map[string]*bucketOrder
}

type bucketOrder struct {
	last [orderWindow][]byte // ring of the last distinct keys
	n    int                 // keys seen
	asc  float64             // starts at 0: random until shown otherwise
}

// observe records a key about to be put into bucket. A key equal to the
// previous one (the study of the next instance, say) says nothing.
func (o *keyOrder) observe(bucket, key []byte) {
	if o.m == nil {
		o.m = map[string]*bucketOrder{}
	}
	b := o.m[string(bucket)]
	if b == nil {
		b = new(bucketOrder)
		o.m[string(bucket)] = b
	}
	if b.n > 0 && bytes.Equal(key, b.last[(b.n-1)%orderWindow]) {
		return
	}
	if b.n >= orderWindow {
		least := b.last[0]
		for _, k := range b.last[1:] {
			if bytes.Compare(k, least) < 0 {
				least = k
			}
		}
		up := 0.0
		if bytes.Compare(key, least) > 0 {
			up = 1
		}
		b.asc += (up - b.asc) * ascWeight
	}
	slot := &b.last[b.n%orderWindow]
	*slot = append((*slot)[:0], key...)
	b.n++
}

// ascending reports whether bucket's keys have been arriving near the
// right edge.
func (o *keyOrder) ascending(bucket []byte) bool {
	b := o.m[string(bucket)]
	return b != nil && b.asc >= ascThreshold
}

// observePut records the keys a prepared instance puts (or would put, for
// a study or series that already exists).
func (o *keyOrder) observePut(p *prepared) {
	o.observe(bInstances, []byte(p.sop))
	o.observe(bMetadata, []byte(p.sop))
	o.observe(bHier, p.hierKey)
	o.observe(bSeries, p.seriesKey)
	o.observe(bMDict, p.seriesKey)
	o.observe(bSeriesUID, []byte(p.series))
	o.observe(bStudies, []byte(p.study))
	o.observe(bPatients, p.patientKey)
	o.observe(bObjects, []byte(p.in.ObjectKey))
	for _, e := range p.studyIdx {
		o.observe(e.bucket, e.key)
	}
	if p.modality != "" {
		o.observe(bxMod, indexKey(p.modality, p.study))
	}
}

// setFill sets the split threshold of every bucket for a write
// transaction.
func (o *keyOrder) setFill(tx *bolt.Tx) {
	for _, name := range allBuckets {
		f := fillRandom
		if o.ascending(name) {
			f = fillAscending
		}
		tx.Bucket(name).FillPercent = f
	}
}
