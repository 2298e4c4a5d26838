package index

import (
	bolt "go.etcd.io/bbolt"
)

// Internals exposed to the external tests.

// SetFailHook makes the group transaction fail after writing sop.
func (ix *Index) SetFailHook(f func(sop string) error) { ix.failHook = f }

// CommitGroup commits the instances as one group, as the committer would.
func (ix *Index) CommitGroup(insts []*Instance) ([]PutResult, []error) {
	batch := make([]*putReq, len(insts))
	for i, in := range insts {
		p, err := prepare(in)
		if err != nil {
			panic(err)
		}
		batch[i] = &putReq{p: p, done: make(chan struct{})}
	}
	ix.commit(batch)
	res := make([]PutResult, len(batch))
	errs := make([]error, len(batch))
	for i, r := range batch {
		res[i], errs[i] = r.res, r.err
	}
	return res, errs
}

// KeyCounts returns the number of keys in every bucket.
func (ix *Index) KeyCounts() map[string]int {
	out := map[string]int{}
	err := ix.db.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			n := 0
			c := tx.Bucket(name).Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				n++
			}
			out[string(name)] = n
		}
		return nil
	})
	if err != nil {
		panic(err)
	}
	return out
}

// NormPN and Glob expose the matching primitives.
var (
	Glob   = glob
	NormTM = normTM
	NormDT = normDT
)
