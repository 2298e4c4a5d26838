package index

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// instanceBatch is the number of instances ForEachInstance reads per
// transaction.
const instanceBatch = 1000

// ForEachInstance calls fn with the Ref of every indexed instance, in SOP
// Instance UID order, without its Layout (Ref.Layout is nil): what a
// consistency check of the object store needs (ObjectKey, SHA256, Size and
// the UIDs). Like ForEachObject it reads in batches and calls fn outside
// any transaction, so fn may do slow I/O without stalling writers;
// instances added or removed meanwhile may or may not be seen. An error
// from fn stops the walk and is returned as is.
func (ix *Index) ForEachInstance(ctx context.Context, fn func(ref Ref) error) error {
	var after []byte
	refs := make([]Ref, 0, instanceBatch)
	for {
		refs = refs[:0]
		var last []byte
		err := ix.view(ctx, "instances", func(tx *bolt.Tx) error {
			c := tx.Bucket(bInstances).Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(refs) < instanceBatch; k, v = c.Next() {
				r, err := decodeInst(k, v)
				if err != nil {
					return fmt.Errorf("instance %q: %w", k, err)
				}
				ref := r.Ref
				ref.Layout = nil
				refs = append(refs, ref)
				last = k
			}
			last = bytes.Clone(last)
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range refs {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(refs) < instanceBatch {
			return nil
		}
		after = last
	}
}
