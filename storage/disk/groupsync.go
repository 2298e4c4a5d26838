package disk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// syncParallel bounds the fdatasync/fsync calls one group sync runs at
// once. Concurrent syncs of one file system share journal commits and
// the block layer merges their cache flushes, so a group of 50 objects
// costs about as much as a few single syncs.
const syncParallel = 16

// syncReq is what one Put needs made durable: the object's data (file)
// and the directory entries that lead to it (dirs: the object's
// directory, and the parents of directories not yet known durable).
type syncReq struct {
	file    *os.File
	dirs    []string
	created []string // directories whose entry becomes durable with dirs
	err     error
	done    bool
}

// groupSync makes the writes of concurrent Puts durable together. A Put
// queues a syncReq and waits; one waiter at a time becomes the leader,
// takes every queued request and makes them durable at once. Requests
// that arrive meanwhile form the next group. Two ways:
//
//   - syncfs (the default): one syncfs(2) of the store's file system
//     writes back all dirty data and commits the journal, so it covers
//     the objects, their renames and the directories created for them
//     (no fsync at mkdir time is needed). It also writes back other
//     processes' dirty pages on that file system.
//   - per file (Options.PerFileSync): fdatasync(2) of each object, then
//     fsync(2) of each distinct directory holding a new entry (the
//     object's directory, and the parents of directories not yet known
//     durable), on up to syncParallel threads. Only the store's own
//     files are flushed, but each call costs a cache flush: on the
//     2-core CI machine STOW of 512 KiB objects in 50-instance requests
//     ran ~20% slower than with syncfs, so it is for shared machines
//     where other writers make syncfs slow.
type groupSync struct {
	perFile bool
	fsFD    int      // an open directory on the store's file system (syncfs)
	keep    *os.File // keeps fsFD open

	mu      sync.Mutex
	cond    *sync.Cond
	running bool
	queue   []*syncReq
	// durable holds directories (below objects/) whose entry in their
	// parent is known to be durable; per-file mode only (syncfs covers
	// every directory entry). It grows with the directories created, so
	// with the dicom/xx/yy key layout up to 65,793 entries (about 10 MiB).
	durable sync.Map
}

func newGroupSync(root string, perFile bool) (*groupSync, error) {
	d, err := os.Open(root)
	if err != nil {
		return nil, err
	}
	g := &groupSync{perFile: perFile, fsFD: int(d.Fd()), keep: d}
	g.cond = sync.NewCond(&g.mu)
	return g, nil
}

// request builds the syncReq of an object file f renamed into dir, a
// directory below top (objects/).
func (g *groupSync) request(f *os.File, dir, top string) *syncReq {
	if !g.perFile {
		// syncfs makes the file and every directory entry durable: no
		// directory list, and nothing recorded in durable (which would
		// only grow with the store).
		return &syncReq{file: f}
	}
	r := &syncReq{file: f, dirs: []string{dir}}
	for d := dir; d != top && len(d) > len(top); d = filepath.Dir(d) {
		if _, ok := g.durable.Load(d); ok {
			break
		}
		r.dirs = append(r.dirs, filepath.Dir(d))
		r.created = append(r.created, d)
	}
	return r
}

// wait returns once r is durable.
func (g *groupSync) wait(r *syncReq) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.queue = append(g.queue, r)
	for !r.done {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		batch := g.queue
		g.queue = nil
		g.mu.Unlock()
		g.flush(batch)
		g.mu.Lock()
		g.running = false
		g.cond.Broadcast()
	}
	return r.err
}

// flush makes a group durable and sets each request's outcome.
func (g *groupSync) flush(batch []*syncReq) {
	if !g.perFile {
		var err error
		if e := unix.Syncfs(g.fsFD); e != nil {
			err = fmt.Errorf("syncfs: %w", e)
		}
		g.finish(batch, func(int) error { return err })
		return
	}
	fileErrs := make([]error, len(batch))
	run(len(batch), func(i int) {
		if err := unix.Fdatasync(int(batch[i].file.Fd())); err != nil {
			fileErrs[i] = fmt.Errorf("fdatasync %s: %w", batch[i].file.Name(), err)
		}
	})
	var dirs []string
	seen := map[string]int{}
	for _, r := range batch {
		for _, d := range r.dirs {
			if _, ok := seen[d]; !ok {
				seen[d] = len(dirs)
				dirs = append(dirs, d)
			}
		}
	}
	dirErrs := make([]error, len(dirs))
	run(len(dirs), func(i int) {
		if err := syncDir(dirs[i]); err != nil {
			dirErrs[i] = fmt.Errorf("fsync %s: %w", dirs[i], err)
		}
	})
	g.finish(batch, func(i int) error {
		errs := []error{fileErrs[i]}
		for _, d := range batch[i].dirs {
			errs = append(errs, dirErrs[seen[d]])
		}
		return errors.Join(errs...)
	})
}

// finish records the outcome of each request of a flushed group and
// the directories that became durable, then releases the waiters.
func (g *groupSync) finish(batch []*syncReq, errOf func(int) error) {
	for i, r := range batch {
		r.err = errOf(i)
		if r.err == nil {
			for _, d := range r.created {
				g.durable.Store(d, struct{}{})
			}
		}
	}
	g.mu.Lock()
	for _, r := range batch {
		r.done = true
	}
	g.mu.Unlock()
}

// run calls f(0..n-1) on up to syncParallel goroutines.
func run(n int, f func(int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, syncParallel)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}
