package scrub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/storage"
)

// Index is what Verify needs of the metadata index (*index.Index).
type Index interface {
	// ForEachInstance calls fn with every indexed instance (no Layout).
	ForEachInstance(ctx context.Context, fn func(ref index.Ref) error) error
	// Lookup returns the current entry of an instance.
	Lookup(ctx context.Context, sopInstanceUID string) (*index.Ref, error)
	// HasObject reports whether the index references an object key.
	HasObject(ctx context.Context, key string) (bool, error)
}

// ObjectPrefix is the prefix of every object key that ingest writes.
const ObjectPrefix = "dicom/"

// Kind classifies a Problem.
type Kind string

const (
	// Missing: the index references an object that the store lacks.
	Missing Kind = "missing"
	// Mismatch: the object's SHA-256 or size differs from the index.
	Mismatch Kind = "mismatch"
	// Orphan: an object under ObjectPrefix that no index entry references.
	Orphan Kind = "orphan"
	// Unreadable: the store failed while the object was read (possibly
	// transient); the object is unverified.
	Unreadable Kind = "unreadable"
)

// Problem is one finding. It names the object and the instance by key and
// UIDs only (no patient data).
type Problem struct {
	Kind           Kind   `json:"kind"`
	Key            string `json:"key"`
	StudyUID       string `json:"study_uid,omitempty"`
	SeriesUID      string `json:"series_uid,omitempty"`
	SOPInstanceUID string `json:"sop_instance_uid,omitempty"`
	// WantSHA256 and WantSize are the index's record; GotSHA256 and
	// GotSize what the store holds (GotSHA256 is empty when the object is
	// larger than recorded: it is not read past the recorded size + 1).
	WantSHA256 string `json:"want_sha256,omitempty"`
	GotSHA256  string `json:"got_sha256,omitempty"`
	WantSize   int64  `json:"want_size,omitempty"`
	GotSize    int64  `json:"got_size,omitempty"`
	Err        string `json:"error,omitempty"`
}

func (p Problem) String() string {
	s := fmt.Sprintf("%s %s", p.Kind, p.Key)
	if p.SOPInstanceUID != "" {
		s += fmt.Sprintf(" sop=%s study=%s series=%s", p.SOPInstanceUID, p.StudyUID, p.SeriesUID)
	}
	switch p.Kind {
	case Mismatch:
		s += fmt.Sprintf(" want sha256=%s size=%d, got sha256=%s size=%d", p.WantSHA256, p.WantSize, p.GotSHA256, p.GotSize)
	case Orphan:
		s += fmt.Sprintf(" size=%d", p.GotSize)
	}
	if p.Err != "" {
		s += ": " + p.Err
	}
	return s
}

// Options tune Verify.
type Options struct {
	// SampleFraction, when in (0, 1), checks each instance with that
	// probability. SampleN, when > 0, checks N instances chosen uniformly
	// at random (all when there are fewer). Neither: every instance.
	SampleFraction float64
	SampleN        int
	// Concurrency is the number of objects read at once (default 4).
	Concurrency int
	// BytesPerSecond throttles reading, over all workers (0: no limit).
	BytesPerSecond int64
	// Orphans also lists the store under ObjectPrefix and reports objects
	// that no index entry references. The store must be a storage.Lister.
	// Leave it off while uploads run: an object whose index commit is
	// pending is an orphan for a moment.
	Orphans bool
	// MaxProblems bounds Report.Problems (default 1000); every problem is
	// still counted and passed to OnProblem.
	MaxProblems int
	// OnProblem, if set, is called with every problem as it is found (one
	// call at a time).
	OnProblem func(Problem)
	// Counters, if set, are updated as objects are checked.
	Counters *Counters
	// Logger receives progress and problems (nil: none).
	Logger *slog.Logger
}

// Report is the outcome of Verify.
type Report struct {
	Instances         int64     `json:"instances"` // index entries walked
	Checked           int64     `json:"checked"`   // objects read and hashed
	Bytes             int64     `json:"bytes"`     // bytes read and hashed
	Missing           int64     `json:"missing"`
	Mismatch          int64     `json:"mismatch"`
	Unreadable        int64     `json:"unreadable"`
	Orphans           int64     `json:"orphans"`
	OrphanBytes       int64     `json:"orphan_bytes"`
	StoreObjects      int64     `json:"store_objects,omitempty"` // objects listed (with Orphans)
	Problems          []Problem `json:"problems"`
	ProblemsTruncated bool      `json:"problems_truncated,omitempty"`
	Started           time.Time `json:"started"`
	Finished          time.Time `json:"finished"`
}

// OK reports whether nothing was found wrong.
func (r *Report) OK() bool {
	return r.Missing == 0 && r.Mismatch == 0 && r.Unreadable == 0 && r.Orphans == 0
}

// verifier is the state of one Verify call.
type verifier struct {
	idx   Index
	store storage.Store
	opt   Options
	lim   *limiter
	log   *slog.Logger

	mu  sync.Mutex // guards rep and OnProblem calls
	rep Report
}

// Verify checks the objects of the indexed instances against the SHA-256
// and size recorded at ingest (see Options for sampling, throttling and
// orphans). Problems are findings, not errors: Verify returns an error
// only when the walk itself fails (index or listing error, ctx done), with
// the partial report.
func Verify(ctx context.Context, idx Index, store storage.Store, opt Options) (*Report, error) {
	if opt.Concurrency <= 0 {
		opt.Concurrency = 4
	}
	if opt.MaxProblems <= 0 {
		opt.MaxProblems = 1000
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v := &verifier{idx: idx, store: store, opt: opt, lim: newLimiter(opt.BytesPerSecond), log: log}
	v.rep.Started = time.Now()
	var lister storage.Lister
	if opt.Orphans {
		l, ok := store.(storage.Lister)
		if !ok {
			return &v.rep, errors.New("scrub: verify: the object store cannot list its objects (orphans)")
		}
		lister = l
	}
	err := v.instances(ctx)
	if err == nil && lister != nil {
		err = v.orphans(ctx, lister)
	}
	v.rep.Finished = time.Now()
	if err != nil {
		return &v.rep, fmt.Errorf("scrub: verify: %w", err)
	}
	return &v.rep, nil
}

// instances walks the index and checks the (sampled) objects with
// opt.Concurrency workers.
func (v *verifier) instances(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan index.Ref, v.opt.Concurrency)
	var wg sync.WaitGroup
	for range v.opt.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, chunk)
			for ref := range work {
				v.check(ctx, ref, buf)
			}
		}()
	}
	send := func(ref index.Ref) error {
		select {
		case work <- ref:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var reservoir []index.Ref
	var seen int64
	err := v.idx.ForEachInstance(ctx, func(ref index.Ref) error {
		seen++
		switch {
		case v.opt.SampleN > 0:
			// Reservoir sampling (algorithm R): a uniform sample of N
			// without knowing the count in advance.
			if len(reservoir) < v.opt.SampleN {
				reservoir = append(reservoir, ref)
			} else if j := rand.Int64N(seen); j < int64(v.opt.SampleN) {
				reservoir[j] = ref
			}
			return nil
		case v.opt.SampleFraction > 0 && v.opt.SampleFraction < 1:
			if rand.Float64() >= v.opt.SampleFraction {
				return nil
			}
		}
		return send(ref)
	})
	for i := 0; err == nil && i < len(reservoir); i++ {
		err = send(reservoir[i])
	}
	close(work)
	wg.Wait()
	v.rep.Instances = seen
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// check reads one object through SHA-256 and records what it finds.
func (v *verifier) check(ctx context.Context, ref index.Ref, buf []byte) {
	if ctx.Err() != nil {
		return
	}
	p := Problem{
		Key: ref.ObjectKey, StudyUID: ref.StudyUID, SeriesUID: ref.SeriesUID, SOPInstanceUID: ref.SOPInstanceUID,
		WantSHA256: hex.EncodeToString(ref.SHA256[:]), WantSize: ref.Size,
	}
	rc, size, err := v.store.Get(ctx, ref.ObjectKey)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if storage.IsNotExist(err) {
			p.Kind = Missing
			v.confirm(ctx, ref, p)
			return
		}
		p.Kind, p.Err = Unreadable, err.Error()
		v.problem(p)
		return
	}
	h := sha256.New()
	var r io.Reader = io.LimitReader(rc, ref.Size+1) // a longer object is a mismatch already
	if v.lim != nil {
		r = limitedReader{ctx: ctx, r: r, l: v.lim}
	}
	n, err := io.CopyBuffer(h, r, buf)
	rc.Close()
	if c := v.opt.Counters; c != nil {
		c.BytesChecked.Add(n)
	}
	v.mu.Lock()
	v.rep.Bytes += n
	v.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if storage.IsNotExist(err) {
			p.Kind = Missing
			v.confirm(ctx, ref, p)
			return
		}
		p.Kind, p.Err = Unreadable, err.Error()
		v.problem(p)
		return
	}
	if c := v.opt.Counters; c != nil {
		c.ObjectsChecked.Add(1)
	}
	v.mu.Lock()
	v.rep.Checked++
	v.mu.Unlock()
	var sum [32]byte
	h.Sum(sum[:0])
	if n == ref.Size && size == ref.Size && sum == ref.SHA256 {
		return
	}
	p.Kind, p.GotSize = Mismatch, max(size, n)
	if n <= ref.Size {
		p.GotSHA256 = hex.EncodeToString(sum[:])
	}
	v.confirm(ctx, ref, p)
}

// confirm reports a missing object or a mismatch only if the instance
// still has the same entry: one deleted or replaced during the walk is no
// problem.
func (v *verifier) confirm(ctx context.Context, ref index.Ref, p Problem) {
	cur, err := v.idx.Lookup(ctx, ref.SOPInstanceUID)
	switch {
	case errors.Is(err, index.ErrNotFound):
		return
	case err == nil && (cur.ObjectKey != ref.ObjectKey || cur.SHA256 != ref.SHA256):
		return
	case err == nil && p.Kind == Missing:
		// Still indexed: make sure the object did not just appear (a
		// re-upload that restored it while we looked).
		if _, err := storage.Stat(ctx, v.store, ref.ObjectKey); err == nil {
			return
		}
	}
	v.problem(p)
}

// problem counts, logs and keeps one finding.
func (v *verifier) problem(p Problem) {
	if c := v.opt.Counters; c != nil {
		switch p.Kind {
		case Missing:
			c.Missing.Add(1)
		case Mismatch:
			c.Mismatch.Add(1)
		case Unreadable:
			c.Errors.Add(1)
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch p.Kind {
	case Missing:
		v.rep.Missing++
	case Mismatch:
		v.rep.Mismatch++
	case Unreadable:
		v.rep.Unreadable++
	case Orphan:
		v.rep.Orphans++
		v.rep.OrphanBytes += p.GotSize
	}
	if len(v.rep.Problems) < v.opt.MaxProblems {
		v.rep.Problems = append(v.rep.Problems, p)
	} else {
		v.rep.ProblemsTruncated = true
	}
	if p.Kind != Orphan {
		v.log.Error("scrub: object problem", "kind", p.Kind, "key", p.Key, "sop_instance_uid", p.SOPInstanceUID,
			"study_uid", p.StudyUID, "series_uid", p.SeriesUID, "want_size", p.WantSize, "got_size", p.GotSize, "err", p.Err)
	}
	if v.opt.OnProblem != nil {
		v.opt.OnProblem(p)
	}
}

// orphans lists the store under ObjectPrefix and reports every object the
// index does not reference.
func (v *verifier) orphans(ctx context.Context, l storage.Lister) error {
	return l.List(ctx, ObjectPrefix, func(key string, size int64) error {
		v.rep.StoreObjects++
		ok, err := v.idx.HasObject(ctx, key)
		if err != nil {
			return err
		}
		if !ok {
			v.problem(Problem{Kind: Orphan, Key: key, GotSize: size})
		}
		return nil
	})
}
