package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/minipacs/minipacs/dicomweb/archive/ingest"
	"github.com/minipacs/minipacs/dicomweb/archive/worklist"
	"github.com/minipacs/minipacs/index"
)

// orderLinker links the studies that arrive to the worklist's orders by
// accession number (worklist.Service.Arrived), in the background: ingest
// hands it the results of each committed batch (ingest.Config.OnStored)
// without waiting. A link lost to a full queue or a crash only leaves an
// order scheduled; nothing acknowledged depends on it.
type orderLinker struct {
	idx index.Engine
	wl  *worklist.Service
	log *slog.Logger
	q   chan string // study UIDs

	mu     sync.Mutex
	recent map[string]bool // study UIDs queued or done lately
}

func newOrderLinker(idx index.Engine, wl *worklist.Service, log *slog.Logger) *orderLinker {
	return &orderLinker{idx: idx, wl: wl, log: log, q: make(chan string, 1024), recent: map[string]bool{}}
}

// stored is the ingest.Config.OnStored hook.
func (l *orderLinker) stored(_ context.Context, results []ingest.Result) {
	for _, r := range results {
		if r.Failure != 0 || r.Existed || r.StudyUID == "" {
			continue
		}
		l.mu.Lock()
		seen := l.recent[r.StudyUID]
		if !seen {
			if len(l.recent) > 4096 {
				clear(l.recent)
			}
			l.recent[r.StudyUID] = true
		}
		l.mu.Unlock()
		if seen {
			continue
		}
		select {
		case l.q <- r.StudyUID:
		default:
			l.log.Warn("worklist: order link queue full; study not linked", "study", r.StudyUID)
		}
	}
}

// run links queued studies until ctx ends.
func (l *orderLinker) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case study := <-l.q:
			acc := ""
			err := l.idx.Search(ctx, index.Query{Level: index.LevelStudy, StudyUID: study, Limit: 1}, func(r *index.Result) error {
				for _, a := range r.Attrs(index.LevelStudy) {
					if a.Tag == 0x00080050 && len(a.Values) > 0 {
						acc = a.Values[0]
					}
				}
				return nil
			})
			if err == nil && acc != "" {
				var n int
				if n, err = l.wl.Arrived(ctx, acc, study); n > 0 {
					l.log.Info("worklist: study linked to its order", "study", study, "orders", n)
				}
			}
			if err != nil && ctx.Err() == nil {
				l.log.Warn("worklist: linking a study to its order", "study", study, "err", err)
			}
		}
	}
}
