package ingest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// Crash points of the ingest pipeline, for crash-consistency tests only
// (Config.CrashPoint). Each names the moment right after a step is durable.
const (
	// CrashAfterSpool: a part is completely spooled, nothing stored yet.
	CrashAfterSpool = "after-spool"
	// CrashAfterObjectWrite: the object is durable in the store, its
	// pending file records the intent, the index knows nothing of it.
	CrashAfterObjectWrite = "after-object-write"
	// CrashAfterIndexCommit: the index entry is committed, the pending
	// file still exists and the client has no answer yet.
	CrashAfterIndexCommit = "after-index-commit"
	// CrashBeforeResponse: the instance is committed and its pending file
	// removed; only the HTTP answer is missing. The STOW handler calls
	// Ingester.CrashPoint(CrashBeforeResponse) right before writing the
	// response.
	CrashBeforeResponse = "before-response"
)

// crashPoint kills the process, without any clean-up, the n-th time the
// named point is reached. It is inert when name is empty.
type crashPoint struct {
	name string
	n    int64
	hits atomic.Int64
}

// parseCrashPoint parses "name" or "name@n" (n >= 1: crash at the n-th
// hit; default 1).
func parseCrashPoint(s string) (*crashPoint, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	name, num, hasNum := strings.Cut(s, "@")
	switch name {
	case CrashAfterSpool, CrashAfterObjectWrite, CrashAfterIndexCommit, CrashBeforeResponse:
	default:
		return nil, fmt.Errorf("ingest: unknown crash point %q", name)
	}
	cp := &crashPoint{name: name, n: 1}
	if hasNum {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("ingest: crash point %q: bad count", s)
		}
		cp.n = n
	}
	return cp, nil
}

// CrashPoint kills the process with SIGKILL if name is the configured
// crash point and this is its n-th hit. Without a configured crash point
// (production) it does nothing.
func (g *Ingester) CrashPoint(name string) {
	cp := g.crash
	if cp == nil || cp.name != name {
		return
	}
	if cp.hits.Add(1) != cp.n {
		return
	}
	g.log.Warn("crash point reached: killing the process", "point", name)
	p, err := os.FindProcess(os.Getpid())
	if err == nil {
		p.Kill() // SIGKILL: no deferred function, no flush, no clean-up
	}
	select {} // never continue past the crash point
}
