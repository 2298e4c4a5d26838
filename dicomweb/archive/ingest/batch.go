package ingest

import (
	"context"
	"errors"
	"io"
)

// Limits are the server-wide bounds of ingest, shared by every front door
// that uploads through this Ingester (STOW-RS requests, C-STORE
// associations): one set of slots for the whole server, not one per
// request.
type Limits struct {
	// MaxPartBytes caps one object (default 4 GiB): a larger one fails
	// with 0xA700 (out of resources) and is not stored.
	MaxPartBytes int64
	// MaxConcurrentChecks bounds the parts parsed and checked at once
	// (CPU and memory; default 16).
	MaxConcurrentChecks int
	// MaxConcurrentWrites bounds the checked parts whose objects are being
	// written to the store at once (default 4 x MaxConcurrentChecks). Such
	// a write mostly waits for the store's durability (a group sync, an
	// upload), so it does not hold a check slot: that would cap a batch's
	// read rate at MaxConcurrentChecks parts per sync.
	MaxConcurrentWrites int
}

func (l Limits) withDefaults() Limits {
	if l.MaxPartBytes <= 0 {
		l.MaxPartBytes = 4 << 30
	}
	if l.MaxConcurrentChecks <= 0 {
		l.MaxConcurrentChecks = 16
	}
	if l.MaxConcurrentWrites <= 0 {
		l.MaxConcurrentWrites = 4 * l.MaxConcurrentChecks
	}
	return l
}

// maxSpooling bounds the parts of one batch being written to their spool
// files while the caller reads on (two buffers each).
const maxSpooling = 4

// Batch is the instances of one upload (a STOW-RS request, the objects of
// a C-STORE association awaiting their responses) on their way to the
// archive: Begin, then Add for each part (or Refuse for a part refused
// before parsing), then Commit, or Abort when the upload cannot be read to
// its end. Nothing of a batch is visible before Commit; after Abort
// nothing of it is left in the store.
//
// Each Add returns as soon as its part is read: the spool file is written
// and hashed, the object parsed and checked and then written to the store
// in the background, under the Ingester's server-wide limits, while the
// caller reads the next part. A Batch is used by one goroutine.
type Batch struct {
	g        *Ingester
	study    string
	slots    []*slot
	spooling []*Part
	ended    bool
}

// slot is one part of a batch: res is set once done is closed; prep is
// the prepared instance awaiting commit (nil for a part refused before
// parsing).
type slot struct {
	res  Result
	prep *Prepared
	done chan struct{}
}

// Begin starts a batch. studyUID, when not empty, is the study the upload
// names (STOW-RS POST /studies/{study}): an instance of another study
// fails with 0xA900.
func (g *Ingester) Begin(ctx context.Context, studyUID string) *Batch {
	return &Batch{g: g, study: studyUID}
}

// Len is the number of parts added or refused so far.
func (b *Batch) Len() int { return len(b.slots) }

// Refuse records a part that the front door refused before parsing (a
// STOW-RS part that is not application/dicom): its result takes its place
// among the batch's results.
func (b *Batch) Refuse(res Result) {
	sl := &slot{res: res, done: make(chan struct{})}
	close(sl.done)
	b.slots = append(b.slots, sl)
}

// Add reads r to its end and queues it as the batch's next part. A part
// larger than Limits.MaxPartBytes is read to its end and discarded, and
// fails with 0xA700. Add returns an error only when r cannot be read or
// ctx ends: the upload is then broken and the batch must be aborted.
func (b *Batch) Add(ctx context.Context, r io.Reader) error {
	g := b.g
	// Parts are written and hashed while the next ones are read; at most
	// maxSpooling of them are left unwaited.
	if len(b.spooling) == maxSpooling {
		b.spooling[0].Wait()
		b.spooling = append(b.spooling[:0], b.spooling[1:]...)
	}
	p, err := g.spoolAsync(ctx, r, g.lim.MaxPartBytes)
	if errors.Is(err, ErrTooLarge) {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		b.Refuse(Result{Failure: FailureOutOfResources, Err: ErrTooLarge})
		return nil
	}
	if err != nil {
		return err
	}
	select {
	case g.checks <- struct{}{}:
	case <-ctx.Done():
		p.Close()
		return ctx.Err()
	}
	sl := &slot{done: make(chan struct{})}
	b.slots = append(b.slots, sl)
	b.spooling = append(b.spooling, p)
	go func() {
		defer close(sl.done)
		sl.prep = g.check(ctx, p, b.study)
		<-g.checks
		if sl.prep.Result().Failure == 0 {
			select {
			case g.writes <- struct{}{}:
				g.write(ctx, sl.prep)
				<-g.writes
			case <-ctx.Done():
				// Commit or Abort writes or forgets it.
			}
		}
		sl.res = sl.prep.Result()
	}()
	return nil
}

// wait waits for every part's background work.
func (b *Batch) wait() {
	for _, sl := range b.slots {
		<-sl.done
	}
}

// Commit waits for every part, makes the prepared instances visible in one
// index group commit (see commitAll) and returns one Result per Add or
// Refuse, in their order. From then on a stored result may be
// acknowledged.
func (b *Batch) Commit(ctx context.Context) []Result {
	b.wait()
	if b.ended {
		panic("ingest: batch committed or aborted twice")
	}
	b.ended = true
	var preps []*Prepared
	var at []int
	for i, sl := range b.slots {
		if sl.prep != nil {
			preps = append(preps, sl.prep)
			at = append(at, i)
		}
	}
	for i, res := range b.g.commitAll(ctx, preps) {
		b.slots[at[i]].res = res
	}
	results := make([]Result, len(b.slots))
	for i, sl := range b.slots {
		results[i] = sl.res
	}
	if b.g.onStored != nil && len(preps) > 0 {
		b.g.onStored(ctx, results)
	}
	return results
}

// Abort waits for every part and forgets them: objects written for the
// batch are removed (unless the index refers to them through another
// upload). It runs to its end even when ctx is cancelled.
func (b *Batch) Abort(ctx context.Context) {
	b.wait()
	if b.ended {
		return
	}
	b.ended = true
	ctx = context.WithoutCancel(ctx)
	for _, sl := range b.slots {
		if sl.prep != nil {
			b.g.abort(ctx, sl.prep)
		}
	}
}

// Queue reports the parts being checked and the objects being written
// right now, server-wide.
func (g *Ingester) Queue() (checking, writing int) { return len(g.checks), len(g.writes) }
