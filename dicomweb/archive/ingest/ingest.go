package ingest

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/kind"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/storage"
)

// Failure and warning reasons of PS3.4 / PS3.18 (STOW-RS FailureReason
// (0008,1197) and WarningReason (0008,1196)).
const (
	FailureProcessing       uint16 = 0x0110
	FailureDuplicate        uint16 = 0x0111 // same SOP Instance UID, different content
	FailureMissingAttribute uint16 = 0x0120
	FailureEmptyAttribute   uint16 = 0x0121
	FailureOutOfResources   uint16 = 0xA700
	FailureDataSetMismatch  uint16 = 0xA900
	FailureCannotUnderstand uint16 = 0xC000
	FailureTransferSyntax   uint16 = 0xC122

	WarningCoercion        uint16 = 0xB000
	WarningElementsDropped uint16 = 0xB006
	WarningSOPClass        uint16 = 0xB007
)

// Index is what ingest needs of the metadata index.
type Index interface {
	Lookup(ctx context.Context, sopInstanceUID string) (*index.Ref, error)
	PutMany(ctx context.Context, insts []*index.Instance) ([]index.PutResult, []error)
	HasObject(ctx context.Context, key string) (bool, error)
	Delete(ctx context.Context, study, series, sop string) ([]string, error)
}

// replacer is the optional capability of an Index whose duplicate policy
// replaces stored instances (index.Options.Replace); without it, other
// content for a stored SOP Instance UID is refused (0x0111).
type replacer interface{ Replaces() bool }

func (g *Ingester) replaces() bool {
	r, ok := g.idx.(replacer)
	return ok && r.Replaces()
}

// Config configures an Ingester.
type Config struct {
	// SpoolDir holds parts while they are processed (created if missing).
	SpoolDir string
	// Limits bound the Part-10 parser.
	Limits part10.Limits
	// Ingest are the server-wide bounds on parts (see Limits).
	Ingest Limits
	Logger *slog.Logger
	// StoreTimeout bounds each object store call (default 2 minutes).
	StoreTimeout time.Duration
	// CrashPoint, for crash-consistency tests only, names a point of the
	// pipeline ("after-spool", "after-object-write", "after-index-commit",
	// "before-response", optionally "@n" for the n-th hit) where the
	// process kills itself with SIGKILL. Empty (always, in production):
	// no crash. The server sets it from $MINIPACS_CRASHPOINT.
	CrashPoint string
	// Patients, when set, gives the patient record's view of each
	// instance's patient (HL7 ADT): the instance is indexed under the
	// identifier its patient was merged into and with the record's
	// demographics; the stored object keeps its own values.
	Patients Patients
	// OnStored, when set, is called with the results of every committed
	// batch (failures included), after they are durable and indexed; it
	// must not block (the response waits for it).
	OnStored func(ctx context.Context, results []Result)
}

// Ingester runs the ingest pipeline. It is safe for concurrent use.
type Ingester struct {
	store    storage.Store
	idx      Index
	spoolDir string
	limits   part10.Limits
	log      *slog.Logger
	timeout  time.Duration
	crash    *crashPoint
	seed     maphash.Seed
	locks    [256]stripe
	lim      Limits
	onStored func(ctx context.Context, results []Result)
	patients Patients
	checks   chan struct{} // parts being checked (Limits.MaxConcurrentChecks)
	writes   chan struct{} // objects being written (Limits.MaxConcurrentWrites)
}

// stripe serialises work on the object keys that hash to it. epoch counts
// the object deletions done under it, so that a commit can tell whether
// its object may have been deleted since it was written.
type stripe struct {
	sync.Mutex
	epoch atomic.Uint64
}

// New returns an Ingester writing objects to store and entries to idx.
func New(store storage.Store, idx Index, cfg Config) (*Ingester, error) {
	if cfg.SpoolDir == "" {
		return nil, errors.New("ingest: no spool directory")
	}
	if err := os.MkdirAll(cfg.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("ingest: spool dir: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Limits == (part10.Limits{}) {
		cfg.Limits = part10.DefaultLimits()
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 2 * time.Minute
	}
	lim := cfg.Ingest.withDefaults()
	crash, err := parseCrashPoint(cfg.CrashPoint)
	if err != nil {
		return nil, err
	}
	return &Ingester{
		store: store, idx: idx, spoolDir: cfg.SpoolDir, limits: cfg.Limits,
		log: cfg.Logger.With("component", "ingest"), timeout: cfg.StoreTimeout,
		crash: crash, seed: maphash.MakeSeed(), lim: lim, onStored: cfg.OnStored, patients: cfg.Patients,
		checks: make(chan struct{}, lim.MaxConcurrentChecks),
		writes: make(chan struct{}, lim.MaxConcurrentWrites),
	}, nil
}

func (g *Ingester) stripe(key string) *stripe { return &g.locks[g.stripeOf(key)] }

func (g *Ingester) stripeOf(key string) int {
	return int(maphash.String(g.seed, key) % uint64(len(g.locks)))
}

// lock serialises work on one object key (ingest against delete).
func (g *Ingester) lock(key string) func() {
	m := g.stripe(key)
	m.Lock()
	return m.Unlock
}

// epoch is the deletion epoch of key's stripe.
func (g *Ingester) epoch(key string) uint64 { return g.stripe(key).epoch.Load() }

// Result is the outcome for one instance.
type Result struct {
	SOPClassUID, SOPInstanceUID string
	StudyUID, SeriesUID         string
	// Failure is 0 when the instance is stored, else a PS3.4 failure reason.
	Failure uint16
	// Warning is a warning reason for a stored instance (0: none).
	Warning uint16
	// Existed is true when the instance was already stored: the same
	// bytes, or the same data set re-encoded (see sameDataSet).
	Existed bool
	// NotDICOM is true when the part was not a Part-10 object at all.
	NotDICOM bool
	// Size is the part's size in bytes (0 when refused before spooling).
	Size int64
	// Err explains a failure (for logs; never sent to clients).
	Err error
}

// indexFailure is the failure reason of an index error: out of resources
// (to be sent again) while the index is unavailable (a database
// failover), else a processing failure.
func indexFailure(err error) uint16 {
	if kind.Of(err) == kind.Unavailable {
		return FailureOutOfResources
	}
	return FailureProcessing
}

func fail(res Result, code uint16, err error) Result {
	res.Failure = code
	res.Err = err
	return res
}

// Prepared is an instance accepted by check, then (after write) one whose
// object is durable in the store but not yet indexed: invisible to every
// client. commit makes it visible, abort forgets it. Until then its spool
// file (renamed "<sha256>.<n>.pending") records the intent, so that
// Recover removes the object after a crash.
type Prepared struct {
	res     Result
	part    *Part // between check and write
	inst    *index.Instance
	key     string
	pending string // path of the pending spool file
	epoch   uint64 // deletion epoch of key's stripe when the object was written
	done    bool   // nothing left to commit (failure, or identical instance exists)
	// release ends the claim of key in a shared index (index.ObjectGuard)
	// once the instance is indexed or forgotten; nil when none.
	release func()
}

// unclaim ends the claim of pr's key, if any.
func (pr *Prepared) unclaim() {
	if pr.release != nil {
		pr.release()
		pr.release = nil
	}
}

// Result returns the outcome so far (final for a failed or existing one).
func (pr *Prepared) Result() Result { return pr.res }

// storePart parses, validates, stores and indexes one spooled part: prepare
// then commit. studyUID, when not empty, is the study the request URL
// names: an instance of another study fails with 0xA900. storePart always
// consumes the part.
func (g *Ingester) storePart(ctx context.Context, p *Part, studyUID string) Result {
	pr := g.prepare(ctx, p, studyUID)
	return g.commit(ctx, pr)
}

// prepare parses and validates a spooled part and writes its object to
// the store, without indexing it: check then write. It always consumes the
// part. The result is final when it is a failure or an identical instance
// already exists; otherwise the caller must call commit or abort.
func (g *Ingester) prepare(ctx context.Context, p *Part, studyUID string) *Prepared {
	pr := g.check(ctx, p, studyUID)
	g.write(ctx, pr)
	return pr
}

// check waits for a spooled part (see spoolAsync), parses and validates
// it and builds its index entry; it writes nothing to the store. The
// result is final when it is a failure or an identical instance already
// exists (the part is then consumed); otherwise write must follow. check is the CPU-bound half of prepare,
// write the half that waits for the store.
func (g *Ingester) check(ctx context.Context, p *Part, studyUID string) *Prepared {
	pr := &Prepared{done: true}
	defer func() {
		if pr.done {
			p.Close()
		}
	}()
	res := &pr.res
	if err := p.Wait(); err != nil {
		*res = fail(*res, FailureOutOfResources, err)
		return pr
	}
	res.Size = p.Size
	f, err := part10.Parse(ctx, p.f, p.Size, g.limits)
	if err != nil {
		switch {
		case errors.Is(err, part10.ErrUnsupportedTransferSyntax):
			*res = fail(*res, FailureTransferSyntax, err)
		case ctx.Err() != nil:
			*res = fail(*res, FailureProcessing, ctx.Err())
		default:
			res.NotDICOM = errors.Is(err, part10.ErrNoPart10Header)
			*res = fail(*res, FailureCannotUnderstand, err)
		}
		return pr
	}
	ds := f.DataSet
	for _, w := range f.Warnings {
		if strings.Contains(w, "dropped") {
			// Stored as sent, but a repeated element is left out of the
			// metadata: "elements discarded".
			res.Warning = WarningElementsDropped
		}
	}
	res.SOPClassUID = uidValue(ds, part10.TagSOPClassUID)
	res.SOPInstanceUID = uidValue(ds, part10.TagSOPInstanceUID)
	res.StudyUID = uidValue(ds, part10.TagStudyInstanceUID)
	res.SeriesUID = uidValue(ds, part10.TagSeriesInstanceUID)
	for _, t := range []part10.Tag{part10.TagSOPClassUID, part10.TagSOPInstanceUID, part10.TagStudyInstanceUID, part10.TagSeriesInstanceUID} {
		e := ds.Find(t)
		if e == nil {
			*res = fail(*res, FailureMissingAttribute, fmt.Errorf("missing %v", t))
			return pr
		}
		v := uidValue(ds, t)
		if v == "" {
			*res = fail(*res, FailureEmptyAttribute, fmt.Errorf("empty %v", t))
			return pr
		}
		if !part10.ValidUID(v) {
			*res = fail(*res, FailureDataSetMismatch, fmt.Errorf("invalid UID in %v", t))
			return pr
		}
	}
	if studyUID != "" && res.StudyUID != studyUID {
		*res = fail(*res, FailureDataSetMismatch, errors.New("study instance UID differs from the request URL"))
		return pr
	}
	key := ObjectKey(p.SHA256)

	// Idempotent re-send and conflict check before any write: the same
	// bytes, or (read back only then) the same data set in a normal form.
	switch ref, err := g.idx.Lookup(ctx, res.SOPInstanceUID); {
	case err == nil:
		if ref.StudyUID == res.StudyUID && ref.SeriesUID == res.SeriesUID {
			same := ref.SHA256 == p.SHA256
			if !same {
				var err error
				if same, err = g.sameDataSet(ctx, ref, f, p); err != nil {
					g.log.Warn("cannot compare with the stored instance", "key", ref.ObjectKey, "err", err)
				}
			}
			if same {
				res.Existed = true
				return pr
			}
		}
		if !g.replaces() {
			*res = fail(*res, FailureDuplicate, errors.New("SOP instance UID already stored with different content"))
			return pr
		}
		// The replace policy: the index replaces the stored instance at
		// commit (or refuses one of another study or series).
	case !errors.Is(err, index.ErrNotFound):
		*res = fail(*res, indexFailure(err), fmt.Errorf("index lookup: %w", err))
		return pr
	}

	inst, err := buildInstance(f, *res, key, p)
	if err != nil {
		*res = fail(*res, FailureCannotUnderstand, err)
		return pr
	}
	if err := g.patientView(ctx, inst); err != nil {
		*res = fail(*res, FailureProcessing, err)
		return pr
	}

	pr.part, pr.inst, pr.key, pr.done = p, inst, key, false
	return pr
}

// write writes the object of an instance that check accepted to the store,
// durably, and consumes its part. On failure the result is final; on
// success commit or abort must follow.
func (g *Ingester) write(ctx context.Context, pr *Prepared) {
	if pr.done || pr.part == nil {
		return
	}
	p := pr.part
	pr.part = nil
	defer p.Close()
	res := &pr.res
	failWith := func(code uint16, err error) {
		*res = fail(*res, code, err)
		pr.inst, pr.done = nil, true
	}
	// Intent: the pending name records the object key until the index
	// commit; Recover removes the object if we crash in between.
	pending := filepath.Join(g.spoolDir, fmt.Sprintf("%x.%d.pending", p.SHA256, spoolSeq.Add(1)))
	if err := os.Rename(p.path, pending); err != nil {
		failWith(FailureOutOfResources, fmt.Errorf("spool rename: %w", err))
		return
	}
	p.path = pending
	key := pr.key
	epoch := g.epoch(key)
	if guard, ok := g.idx.(index.ObjectGuard); ok {
		// Other nodes must not remove this key until it is indexed.
		release, err := guard.ClaimObject(ctx, key)
		if err != nil {
			failWith(FailureOutOfResources, fmt.Errorf("claim object: %w", err))
			return
		}
		pr.release = release
	}
	if err := g.putObject(ctx, key, p); err != nil {
		code := FailureOutOfResources
		if errors.Is(err, context.Canceled) {
			code = FailureProcessing
		}
		pr.unclaim()
		failWith(code, err) // p.Close removes the pending file
		return
	}
	// The pending file outlives the part: commit or abort removes it.
	p.path = ""
	pr.pending, pr.epoch = pending, epoch
	g.CrashPoint(CrashAfterObjectWrite)
}

// commit indexes a prepared instance: from now on it is visible, and its
// result (returned) may be acknowledged. A conflict found only now (a
// concurrent upload of the same SOP Instance UID with other content) fails
// with 0x0111 and removes the object.
func (g *Ingester) commit(ctx context.Context, pr *Prepared) Result {
	return g.commitAll(ctx, []*Prepared{pr})[0]
}

// commitAll commits several prepared instances, as commit does each, in
// one index group commit: a STOW request's instances cost one
// transaction. The results are in the order of prs.
func (g *Ingester) commitAll(ctx context.Context, prs []*Prepared) []Result {
	results := make([]Result, len(prs))
	var todo []*Prepared
	var at []int
	for i, pr := range prs {
		g.write(ctx, pr) // when check was not followed by write
		if pr.done {
			results[i] = pr.res
			continue
		}
		pr.done = true
		defer os.Remove(pr.pending)
		defer pr.unclaim()
		todo = append(todo, pr)
		at = append(at, i)
	}
	if len(todo) == 0 {
		return results
	}
	// Hold the stripes of every key, in stripe order (no deadlock with
	// another commitAll), from the epoch checks to the index commit.
	var stripes []int
	for _, pr := range todo {
		stripes = append(stripes, g.stripeOf(pr.key))
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	for _, i := range stripes {
		g.locks[i].Lock()
	}
	var insts []*index.Instance
	var put []int // indexes into todo of insts
	now := time.Now().UTC()
	for j, pr := range todo {
		if g.epoch(pr.key) != pr.epoch {
			// An object with this key was deleted since we wrote ours (a
			// DELETE of an identical instance raced this upload): make sure
			// ours is still there, from the pending file if need be.
			if _, err := storage.Stat(ctx, g.store, pr.key); storage.IsNotExist(err) {
				if err := g.putObject(ctx, pr.key, &Part{path: pr.pending}); err != nil {
					results[at[j]] = fail(pr.res, FailureOutOfResources, err)
					pr.inst = nil
					continue
				}
			}
		}
		pr.inst.Stored = now
		insts = append(insts, pr.inst)
		put = append(put, j)
		pr.inst = nil
	}
	irs, errs := g.idx.PutMany(ctx, insts)
	var replaced []string
	for k, j := range put {
		pr, res := todo[j], &todo[j].res
		if err := errs[k]; err != nil {
			g.deleteIfUnreferenced(context.WithoutCancel(ctx), pr.key)
			if errors.Is(err, index.ErrConflict) {
				results[at[j]] = fail(*res, FailureDuplicate, err)
			} else {
				results[at[j]] = fail(*res, indexFailure(err), fmt.Errorf("index put: %w", err))
			}
			continue
		}
		g.CrashPoint(CrashAfterIndexCommit)
		ir := irs[k]
		res.Existed = ir.Existed
		if ir.PatientMismatch && res.Warning == 0 {
			res.Warning = WarningCoercion
		}
		if ir.ReplacedObjectKey != "" && ir.ReplacedObjectKey != pr.key {
			replaced = append(replaced, ir.ReplacedObjectKey)
		}
		results[at[j]] = *res
	}
	for _, i := range stripes {
		g.locks[i].Unlock()
	}
	// Objects of replaced instances, each under its own key's lock.
	g.deleteObjects(context.WithoutCancel(ctx), replaced...)
	return results
}

// abort forgets a prepared instance: its object is removed unless the
// index refers to it (an identical instance committed meanwhile).
func (g *Ingester) abort(ctx context.Context, pr *Prepared) {
	if pr.done {
		return
	}
	pr.done = true
	pr.inst = nil
	if pr.part != nil {
		// Checked, never written: only the spool file to remove.
		pr.part.Close()
		pr.part = nil
		return
	}
	pr.unclaim()
	unlock := g.lock(pr.key)
	g.deleteIfUnreferenced(ctx, pr.key)
	unlock()
	os.Remove(pr.pending)
}

// putObject writes the spooled file to the store (durable when it
// returns; the disk store links it instead of copying).
func (g *Ingester) putObject(ctx context.Context, key string, p *Part) error {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	return storage.PutFile(ctx, g.store, key, p.path)
}

// deleteIfUnreferenced removes the object at key unless the index refers to
// it. The caller holds the key's lock.
func (g *Ingester) deleteIfUnreferenced(ctx context.Context, key string) {
	if err := g.removeUnreferenced(ctx, key); err != nil {
		g.log.Warn("cannot remove unreferenced object", "key", key, "err", err)
	}
}

// removeUnreferenced removes the object at key unless the index refers to
// it or, in an index that nodes share, another node claims it. A missing
// object is not an error.
func (g *Ingester) removeUnreferenced(ctx context.Context, key string) error {
	del := func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, g.timeout)
		defer cancel()
		g.stripe(key).epoch.Add(1)
		if err := g.store.Delete(ctx, key); err != nil && !storage.IsNotExist(err) {
			return err
		}
		return nil
	}
	if guard, ok := g.idx.(index.ObjectGuard); ok {
		_, err := guard.DeleteUnreferenced(ctx, key, del)
		return err
	}
	ok, err := g.idx.HasObject(ctx, key)
	if err != nil || ok {
		return err
	}
	return del(ctx)
}

// Delete deletes a study, a series (series not empty) or an instance (sop
// too) from the index, then their objects from the store, and returns how
// many objects were removed. An unknown UID fails with index.ErrNotFound
// (kind NotFound). The objects go even when ctx is cancelled once the
// index entries are gone: they are invisible from then on.
func (g *Ingester) Delete(ctx context.Context, study, series, sop string) (int, error) {
	keys, err := g.idx.Delete(ctx, study, series, sop)
	if err != nil {
		return 0, err
	}
	g.deleteObjects(context.WithoutCancel(ctx), keys...)
	return len(keys), nil
}

// deleteObjects removes objects after their index entries were deleted,
// keeping any that the index references again (a concurrent re-upload).
func (g *Ingester) deleteObjects(ctx context.Context, keys ...string) {
	for _, k := range keys {
		unlock := g.lock(k)
		g.deleteIfUnreferenced(ctx, k)
		unlock()
	}
}

// Recover cleans the spool directory after a crash: spool files are
// removed, and objects of pending uploads that never reached the index are
// deleted. Call it at start-up before serving.
func (g *Ingester) Recover(ctx context.Context) error {
	ents, err := os.ReadDir(g.spoolDir)
	if err != nil {
		return fmt.Errorf("ingest: recover: %w", err)
	}
	var removed, orphans int
	for _, e := range ents {
		name := e.Name()
		if x, ok := strings.CutSuffix(name, ".pending"); ok {
			sum, _, _ := strings.Cut(x, ".")
			if len(sum) == 64 {
				key := ObjectKeyHex(sum)
				ok, err := g.idx.HasObject(ctx, key)
				if err != nil {
					return fmt.Errorf("ingest: recover: %w", err)
				}
				if !ok {
					if err := g.removeUnreferenced(ctx, key); err != nil {
						return fmt.Errorf("ingest: recover: delete orphan: %w", err)
					}
					orphans++
				}
			}
		}
		if err := os.Remove(filepath.Join(g.spoolDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("ingest: recover: %w", err)
		}
		removed++
	}
	if removed > 0 {
		g.log.Info("recovered spool", "files_removed", removed, "orphan_objects_removed", orphans)
	}
	return nil
}

func uidValue(ds *part10.DataSet, t part10.Tag) string {
	e := ds.Find(t)
	if e == nil {
		return ""
	}
	return part10.TrimUID(string(e.Value))
}
