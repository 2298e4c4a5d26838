package scrub

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/ingest"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/storage"
)

// ObjectIndex is what GC needs of the index.
type ObjectIndex interface {
	HasObject(ctx context.Context, key string) (bool, error)
}

// ModTimer is implemented by stores that can tell when an object was last
// written (storage/disk and storage/s3 do). GC needs it for the grace
// period.
type ModTimer interface {
	ModTime(ctx context.Context, key string) (time.Time, error)
}

// GCOptions tune GC.
type GCOptions struct {
	// Grace spares orphans written less than Grace ago, and spool files
	// younger than that: an upload in flight writes its object before the
	// index commit. Negative is treated as 0.
	Grace time.Duration
	// DryRun reports what would be removed and removes nothing.
	DryRun bool
	// SpoolDir is ingest's spool directory (empty: none). Objects named by
	// a pending upload younger than Grace are spared; spool files older
	// than Grace (interrupted uploads) are removed.
	SpoolDir string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnRemove, if set, is called for every object removed (or, with
	// DryRun, that would be).
	OnRemove func(key string, size int64)
	// Logger receives what GC removes (nil: nothing logged).
	Logger *slog.Logger
}

// GCReport is the outcome of GC.
type GCReport struct {
	Objects      int64 `json:"objects"`       // objects listed under ObjectPrefix
	Orphans      int64 `json:"orphans"`       // not referenced by the index
	Removed      int64 `json:"removed"`       // orphans removed (DryRun: would be)
	RemovedBytes int64 `json:"removed_bytes"` // their size
	KeptYoung    int64 `json:"kept_young"`    // orphans within the grace period
	KeptPending  int64 `json:"kept_pending"`  // orphans named by a pending upload
	SpoolRemoved int64 `json:"spool_removed"` // stale spool files removed (DryRun: would be)
	DryRun       bool  `json:"dry_run"`
}

// GC removes the objects under ObjectPrefix that the index does not
// reference and that are older than the grace period, then stale spool
// files. An object is removed only after a fresh index lookup just before
// the removal still finds it unreferenced; the order of the checks (list,
// then pending spool files, then the index) means that an upload in
// flight is always seen either as pending or as indexed.
//
// GC trusts the index: run it against the live index, never a restored
// older copy (reindex first). The store must be a storage.Lister and, for
// a grace period above 0, a ModTimer.
func GC(ctx context.Context, idx ObjectIndex, store storage.Store, opt GCOptions) (*GCReport, error) {
	rep := &GCReport{DryRun: opt.DryRun}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	opt.Grace = max(opt.Grace, 0)
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l, ok := store.(storage.Lister)
	if !ok {
		return rep, errors.New("scrub: gc: the object store cannot list its objects")
	}
	mt, hasMT := store.(ModTimer)
	if !hasMT && opt.Grace > 0 {
		return rep, errors.New("scrub: gc: the object store cannot report modification times (needed for the grace period)")
	}

	// 1. Candidates: objects unreferenced at listing time.
	type cand struct {
		key  string
		size int64
	}
	var cands []cand
	err := l.List(ctx, ObjectPrefix, func(key string, size int64) error {
		rep.Objects++
		ok, err := idx.HasObject(ctx, key)
		if err != nil {
			return err
		}
		if !ok {
			cands = append(cands, cand{key, size})
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("scrub: gc: list: %w", err)
	}
	rep.Orphans = int64(len(cands))

	// 2. Pending uploads, read after the listing (see above).
	now := opt.Now()
	pending, stale, err := readSpool(opt.SpoolDir, now.Add(-opt.Grace))
	if err != nil {
		return rep, fmt.Errorf("scrub: gc: %w", err)
	}

	// 3. Each candidate: spared if pending or young, else removed if the
	// index still does not reference it.
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("scrub: gc: %w", err)
		}
		if pending[c.key] {
			rep.KeptPending++
			continue
		}
		if opt.Grace > 0 {
			t, err := mt.ModTime(ctx, c.key)
			if storage.IsNotExist(err) {
				continue // removed meanwhile
			}
			if err != nil {
				return rep, fmt.Errorf("scrub: gc: %w", err)
			}
			if now.Sub(t) < opt.Grace {
				rep.KeptYoung++
				continue
			}
		}
		removed, err := removeOrphan(ctx, idx, store, c.key, opt.DryRun)
		if err != nil {
			return rep, fmt.Errorf("scrub: gc: %w", err)
		}
		if !removed {
			rep.Orphans--
			continue
		}
		if !opt.DryRun {
			log.Info("gc: orphan object removed", "key", c.key, "size", c.size)
		}
		rep.Removed++
		rep.RemovedBytes += c.size
		if opt.OnRemove != nil {
			opt.OnRemove(c.key, c.size)
		}
	}

	// 4. Stale spool files: interrupted uploads (".part") and pending
	// files of uploads that never finished. Removing them now is safe: a
	// stale pending file no longer protects its object (step 3).
	for _, p := range stale {
		if !opt.DryRun {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return rep, fmt.Errorf("scrub: gc: spool: %w", err)
			}
			log.Info("gc: stale spool file removed", "file", filepath.Base(p))
		}
		rep.SpoolRemoved++
	}
	return rep, nil
}

// removeOrphan removes the object at key unless the index references it
// now (dryRun: only checks), and reports whether it was (would be)
// removed. On an index that nodes share (index.ObjectGuard) the check and
// the removal run under the key's claim lock, so a node that claimed the
// key (writing the same object, to index it) keeps it.
func removeOrphan(ctx context.Context, idx ObjectIndex, store storage.Store, key string, dryRun bool) (bool, error) {
	del := func(ctx context.Context) error {
		if err := store.Delete(ctx, key); err != nil && !storage.IsNotExist(err) {
			return err
		}
		return nil
	}
	if guard, ok := idx.(index.ObjectGuard); ok && !dryRun {
		return guard.DeleteUnreferenced(ctx, key, del)
	}
	referenced, err := idx.HasObject(ctx, key)
	if err != nil || referenced {
		return false, err
	}
	if dryRun {
		return true, nil
	}
	return true, del(ctx)
}

// readSpool returns the object keys named by pending uploads modified
// after cutoff, and the paths of spool files (any name) modified before it.
func readSpool(dir string, cutoff time.Time) (pending map[string]bool, stale []string, err error) {
	pending = map[string]bool{}
	if dir == "" {
		return pending, nil, nil
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return pending, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("spool: %w", err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // finished meanwhile
		}
		if err != nil {
			return nil, nil, fmt.Errorf("spool: %w", err)
		}
		if fi.ModTime().Before(cutoff) {
			stale = append(stale, filepath.Join(dir, e.Name()))
			continue
		}
		if key, ok := PendingKey(e.Name()); ok {
			pending[key] = true
		}
	}
	return pending, stale, nil
}

// PendingKey returns the object key that a pending spool file of ingest
// ("<sha256 hex>.<n>.pending") names.
func PendingKey(name string) (string, bool) {
	x, ok := strings.CutSuffix(name, ".pending")
	if !ok {
		return "", false
	}
	sum, _, _ := strings.Cut(x, ".")
	if len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
		return "", false
	}
	return ingest.ObjectKeyHex(sum), true
}
