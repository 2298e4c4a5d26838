package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/minipacs/minipacs/index"
)

var _ index.ObjectGuard = (*Index)(nil)

// Claims of object keys (object_claims, doc.go). Every change of a key's
// claims runs under a transaction-scoped advisory lock on the key, so a
// removal's check and a claim never interleave.
const (
	// claimTTL bounds a claim of a node that died before releasing it.
	claimTTL = time.Hour
	// removalTTL bounds the mark of a removal whose node died.
	removalTTL = 10 * time.Minute
	// claimPoll is the wait between claim attempts while a removal runs.
	claimPoll = 20 * time.Millisecond
)

const lockKey = `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`

func newClaimID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ClaimObject records that this node will write key and index it (see
// index.ObjectGuard); it waits while another node removes key.
func (ix *Index) ClaimObject(ctx context.Context, key string) (func(), error) {
	id := newClaimID()
	for {
		removing := false
		err := ix.inTx(ctx, "claim object", func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, lockKey, key); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM object_claims
WHERE key = $1 AND deleting AND expires > now())`, key).Scan(&removing); err != nil || removing {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO object_claims (key, claim, deleting, expires)
VALUES ($1, $2, false, now() + $3 * interval '1 second')`, key, id, int64(claimTTL/time.Second))
			return err
		})
		if err != nil {
			return nil, err
		}
		if !removing {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("index: claim object: %w", ctx.Err())
		case <-time.After(claimPoll):
		}
	}
	release := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Best effort, and without waiting for the WAL flush (nor the
		// standby): a release lost in a crash leaves a claim that only
		// delays a removal until it expires.
		ix.read(ctx, "release object", func(q querier) error {
			_, err := q.Exec(ctx, `WITH r AS (SELECT set_config('synchronous_commit', 'off', true))
DELETE FROM object_claims WHERE key = $1 AND claim = $2 AND EXISTS (SELECT 1 FROM r)`, key, id)
			return err
		})
	}
	return release, nil
}

// DeleteUnreferenced calls del unless the index references key or a node
// claims it (see index.ObjectGuard).
func (ix *Index) DeleteUnreferenced(ctx context.Context, key string, del func(ctx context.Context) error) (bool, error) {
	id := newClaimID()
	busy := false
	err := ix.inTx(ctx, "delete object", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockKey, key); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM object_claims WHERE key = $1 AND expires <= now()`, key); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM instances WHERE object_key = $1)
OR EXISTS (SELECT 1 FROM object_claims WHERE key = $1)`, key).Scan(&busy)
		if err != nil || busy {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO object_claims (key, claim, deleting, expires)
VALUES ($1, $2, true, now() + $3 * interval '1 second')`, key, id, int64(removalTTL/time.Second))
		return err
	})
	if err != nil || busy {
		return false, err
	}
	derr := del(ctx)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := ix.read(cctx, "delete object", func(q querier) error {
		_, err := q.Exec(cctx, `DELETE FROM object_claims WHERE key = $1 AND claim = $2`, key, id)
		return err
	}); err != nil && derr == nil {
		derr = err
	}
	return true, derr
}
