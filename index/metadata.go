package index

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
	bolt "go.etcd.io/bbolt"
)

// Stored metadata (see doc.go, buckets "metadata" and "mdict"): most of the
// DICOM JSON of a series is the same in every instance, so a series of
// more than one instance has a dictionary, the metadata of its second
// instance (at most s2.MaxDictSize bytes), and the metadata of its later
// instances is an S2 block encoded against it: the shared attributes
// become back-references into the dictionary and only what differs is
// stored literally. A series' first instance is encoded with the built-in
// JSON dictionary (packed.go): a one-instance series, the most common
// kind in radiography, needs no dictionary of its own.

// Kinds of metadata values (first byte).
const (
	mdRaw  = 0 // the JSON as given (shorter than s2.MinDictSize, or incompressible)
	mdDict = 1 // an S2 block encoded with the series dictionary
	mdJSON = 2 // an S2 block encoded with the built-in JSON dictionary
)

// maxMetadata is the largest metadata object Put accepts (decoding refuses
// larger ones, so a damaged length cannot make it allocate more). Part-10
// parsing keeps at most 256 MiB of values in memory by default
// (part10.DefaultLimits), which JSON makes at most a few times longer.
const maxMetadata = 1 << 30

// mdCacheMax bounds the dictionaries kept in memory (each holds its
// template and, once used for encoding, a 32 KiB hash table).
const mdCacheMax = 64

// seriesDict is one series' dictionary, built from its stored mdict value.
type seriesDict struct {
	stored []byte // the mdict value exactly as stored (identity check)
	d      *s2.Dict
}

// dictCache keeps recently used series dictionaries by series key. An entry
// is only used after its stored bytes were compared with the mdict value
// read in the current transaction, so stale entries (series deleted and
// recreated, rolled-back transactions) are harmless.
type dictCache struct {
	mu sync.Mutex
	m  map[string]*seriesDict
}

func (c *dictCache) get(key []byte) *seriesDict {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[string(key)]
}

func (c *dictCache) put(key []byte, d *seriesDict) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*seriesDict)
	}
	if _, ok := c.m[string(key)]; !ok && len(c.m) >= mdCacheMax {
		for k := range c.m { // evict an arbitrary entry
			delete(c.m, k)
			break
		}
	}
	c.m[string(key)] = d
}

// lookup returns the dictionary of the mdict value v of series key, from
// the cache when its bytes match, else decoded (and cached).
func (c *dictCache) lookup(key, v []byte) (*seriesDict, error) {
	if d := c.get(key); d != nil && bytes.Equal(d.stored, v) {
		return d, nil
	}
	d, err := decodeSeriesDict(v)
	if err != nil {
		return nil, err
	}
	c.put(key, d)
	return d, nil
}

// dictTemplate is the part of a metadata object used as its series'
// dictionary, or nil when the object is too short for one.
func dictTemplate(meta []byte) []byte {
	if len(meta) < s2.MinDictSize {
		return nil
	}
	return meta[:min(len(meta), s2.MaxDictSize)]
}

// newSeriesDict builds the dictionary of a series from the metadata of
// its second instance; nil when it is too short.
func newSeriesDict(meta []byte) *seriesDict {
	tmpl := dictTemplate(meta)
	if tmpl == nil {
		return nil
	}
	e := enc{buf: make([]byte, 0, 1+s2.MaxEncodedLen(len(tmpl)))}
	e.byte(recordVersion)
	e.buf = append(e.buf, s2.EncodeBetter(e.buf[len(e.buf):cap(e.buf)], tmpl)...)
	d := s2.MakeDict(bytes.Clone(tmpl), nil)
	if d == nil {
		return nil
	}
	return &seriesDict{stored: e.buf, d: d}
}

// decodeSeriesDict decodes an mdict value.
func decodeSeriesDict(v []byte) (*seriesDict, error) {
	d := dec{b: v}
	d.version()
	if d.err != nil {
		return nil, fmt.Errorf("series dictionary: %w", d.err)
	}
	var tmpl []byte
	n, err := s2.DecodedLen(d.b)
	if err == nil && n > s2.MaxDictSize {
		err = fmt.Errorf("template of %d bytes", n)
	}
	if err == nil {
		tmpl, err = s2.Decode(nil, d.b)
	}
	if err != nil {
		return nil, fmt.Errorf("series dictionary: %w: %v", errCorrupt, err)
	}
	sd := s2.MakeDict(tmpl, nil)
	if sd == nil {
		return nil, fmt.Errorf("series dictionary: %w: bad size %d", errCorrupt, len(tmpl))
	}
	return &seriesDict{stored: bytes.Clone(v), d: sd}, nil
}

// encodeMetadata returns the stored form of meta with series dictionary d
// (nil: the built-in one), or raw when that is not shorter.
func encodeMetadata(d *seriesDict, meta []byte) []byte {
	if d != nil {
		return s2Pack(d.d, mdDict, mdRaw, s2.MinDictSize, meta)
	}
	return s2Pack(jsonDict, mdJSON, mdRaw, s2.MinDictSize, meta)
}

// appendMetadata appends the JSON of a stored metadata value to buf; dict
// returns the series dictionary when the value needs it.
func appendMetadata(buf, v []byte, dict func() (*seriesDict, error)) ([]byte, error) {
	if len(v) == 0 {
		return buf, fmt.Errorf("metadata: %w: empty value", errCorrupt)
	}
	switch v[0] {
	case mdRaw:
		return append(buf, v[1:]...), nil
	case mdDict, mdJSON:
		d := jsonDict
		if v[0] == mdDict {
			sd, err := dict()
			if err != nil {
				return buf, err
			}
			d = sd.d
		}
		out, err := s2Unpack(buf, d, v[1:], maxMetadata)
		if err != nil {
			return buf, fmt.Errorf("metadata: %w", err)
		}
		return out, nil
	}
	return buf, fmt.Errorf("metadata: %w: kind %d", errCorrupt, v[0])
}

// putMetadata stores an instance's metadata inside the committer's
// transaction: with the built-in dictionary for the first instance of a
// series (newSeries), else with the series dictionary, made from this
// instance if the series has none yet. The encoding done by
// prepareMetadata is used when it was made with the dictionary now used;
// otherwise the metadata is encoded here.
func (ix *Index) putMetadata(tx *bolt.Tx, p *prepared, newSeries bool) error {
	meta := p.in.Metadata
	db := tx.Bucket(bMDict)
	var d *seriesDict
	if v := db.Get(p.seriesKey); v == nil {
		if newSeries {
			// d stays nil: the built-in dictionary.
		} else if d = newSeriesDict(meta); d != nil {
			if err := db.Put(p.seriesKey, d.stored); err != nil {
				return fmt.Errorf("put %s: %w", bMDict, err)
			}
			ix.dicts.put(p.seriesKey, d)
		}
	} else if p.mdDict != nil && bytes.Equal(p.mdDict.stored, v) {
		d = p.mdDict
	} else {
		var err error
		if d, err = ix.dicts.lookup(p.seriesKey, v); err != nil {
			return err
		}
	}
	val := p.mdEnc
	if d != p.mdDict || val == nil {
		val = encodeMetadata(d, meta)
	}
	if err := tx.Bucket(bMetadata).Put([]byte(p.sop), val); err != nil {
		return fmt.Errorf("put %s: %w", bMetadata, err)
	}
	return nil
}

// prepareMetadata encodes the metadata before the request is queued, with
// the cached dictionary of its series if there is one, else with the
// built-in one (the committer checks which is right).
func (ix *Index) prepareMetadata(p *prepared) {
	p.mdDict = ix.dicts.get(p.seriesKey)
	p.mdEnc = encodeMetadata(p.mdDict, p.in.Metadata)
}
