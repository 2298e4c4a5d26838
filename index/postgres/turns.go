package postgres

import (
	"context"
	"time"

	"github.com/minipacs/minipacs/index"
)

var _ index.Turns = (*Index)(nil)

// TakeTurn gives this node the turn of job name (see index.Turns): a
// session-level advisory lock held on a connection of its own for the
// length of the turn (released by the server if the node dies), and the
// job's last completion in the turns table. done must be called before
// Close, which waits for the connection.
func (ix *Index) TakeTurn(ctx context.Context, name string, every time.Duration) (func(completed bool), bool, error) {
	if err := ix.begin(); err != nil {
		return nil, false, err
	}
	defer ix.end()
	conn, err := ix.pool.Acquire(ctx)
	if err != nil {
		return nil, false, ix.wrap("take turn", err)
	}
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended('turn:' || $1, 0))`, name).Scan(&locked); err != nil {
		conn.Release()
		return nil, false, ix.wrap("take turn", err)
	}
	if !locked {
		conn.Release()
		return nil, false, nil
	}
	unlock := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended('turn:' || $1, 0))`, name); err != nil {
			// The lock lives as long as the session: drop the session.
			conn.Conn().Close(ctx)
		}
		conn.Release()
	}
	var recent bool
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM turns WHERE name = $1 AND completed > now() - $2 * interval '1 second')`,
		name, every.Seconds()).Scan(&recent)
	if err != nil || recent {
		unlock()
		if err != nil {
			return nil, false, ix.wrap("take turn", err)
		}
		return nil, false, nil
	}
	done := func(completed bool) {
		if completed {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// Best effort: without the record, another node may
			// scrub again sooner.
			conn.Exec(ctx, `INSERT INTO turns (name, completed) VALUES ($1, now())
ON CONFLICT (name) DO UPDATE SET completed = EXCLUDED.completed`, name)
		}
		unlock()
	}
	return done, true, nil
}
