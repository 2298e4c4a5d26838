package stowclient

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Importer uploads the files of a Scan.
type Importer struct {
	Client *Client
	// Parallel is the number of STOW-RS requests in flight (default 4).
	Parallel int
	// BatchFiles and BatchBytes bound one request (defaults 32 files, 64 MiB;
	// a larger file goes alone).
	BatchFiles int
	BatchBytes int64
	// Resume, when true, first asks the archive which instances of each
	// study it holds and skips them.
	Resume bool
	// Progress, when set, is called after each request with the totals so
	// far; calls never overlap.
	Progress func(Progress)
}

// Progress counts what has been done so far.
type Progress struct {
	Files, TotalFiles int
	Bytes, TotalBytes int64
	Started           time.Time
}

// Summary is the result of Run.
type Summary struct {
	Stored  int
	Present int // already in the archive (Resume)
	// Warnings are stored files the archive accepted with a warning.
	Warnings []Outcome
	// Failed are files the archive refused or that could not be sent.
	Failed []Outcome
}

// Run uploads sc.Files. It returns an error only when ctx ends or the
// archive cannot be asked what it holds; refused files are in Summary.Failed.
func (im *Importer) Run(ctx context.Context, sc *Scan) (*Summary, error) {
	par := max(im.Parallel, 1)
	if im.Parallel == 0 {
		par = 4
	}
	bf, bb := im.BatchFiles, im.BatchBytes
	if bf <= 0 {
		bf = 32
	}
	if bb <= 0 {
		bb = 64 << 20
	}
	sum := &Summary{}
	prog := Progress{TotalFiles: len(sc.Files), TotalBytes: sc.Bytes, Started: time.Now()}

	// Group by study, so one QIDO per study answers what is present.
	byStudy := map[string][]*File{}
	var studies []string
	for _, f := range sc.Files {
		if _, ok := byStudy[f.StudyInstanceUID]; !ok {
			studies = append(studies, f.StudyInstanceUID)
		}
		byStudy[f.StudyInstanceUID] = append(byStudy[f.StudyInstanceUID], f)
	}
	sort.Strings(studies)

	var mu sync.Mutex
	var files, bytes atomic.Int64
	var progMu sync.Mutex // Progress calls are serialised
	report := func() {
		if im.Progress != nil {
			progMu.Lock()
			defer progMu.Unlock()
			p := prog
			p.Files, p.Bytes = int(files.Load()), bytes.Load()
			im.Progress(p)
		}
	}
	batches := make(chan []*File)
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				outs, err := im.Client.Store(ctx, b)
				if err != nil {
					outs = make([]Outcome, len(b))
					for i, f := range b {
						outs[i] = Outcome{File: f, Reason: err.Error()}
					}
				}
				mu.Lock()
				for _, o := range outs {
					switch {
					case !o.Stored:
						sum.Failed = append(sum.Failed, o)
					case o.Reason != "":
						sum.Stored++
						sum.Warnings = append(sum.Warnings, o)
					default:
						sum.Stored++
					}
					files.Add(1)
					bytes.Add(o.File.Size)
				}
				mu.Unlock()
				report()
			}
		}()
	}

	var err error
feed:
	for _, study := range studies {
		todo := byStudy[study]
		if im.Resume && study != "" {
			have, qerr := im.Client.StoredInstances(ctx, study)
			if qerr != nil {
				err = fmt.Errorf("ask the archive what study %s holds: %w", study, qerr)
				break
			}
			kept := todo[:0:0]
			for _, f := range todo {
				if have[f.SOPInstanceUID] {
					mu.Lock()
					sum.Present++
					mu.Unlock()
					files.Add(1)
					bytes.Add(f.Size)
					continue
				}
				kept = append(kept, f)
			}
			todo = kept
			report()
		}
		var b []*File
		var n int64
		for _, f := range todo {
			if len(b) > 0 && (len(b) >= bf || n+f.Size > bb) {
				select {
				case batches <- b:
				case <-ctx.Done():
					break feed
				}
				b, n = nil, 0
			}
			b = append(b, f)
			n += f.Size
		}
		if len(b) > 0 {
			select {
			case batches <- b:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(batches)
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return sum, err
}
