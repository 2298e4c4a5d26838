package main_test

// Several stateless nodes on one object store (MinIO) and one PostgreSQL
// index: concurrent overlapping uploads to every node, identical answers
// from each, one database row per UID, retrieval from a node other than
// the one that stored, a node killed mid-stream, verify and gc beside the
// running nodes (TestMultiNode); and a PostgreSQL failover to a
// synchronous standby under load, which the nodes must ride out with 503
// + Retry-After and no restart (TestFailover).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/testkit/pgtest"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/postgres"
)

// cluster is a set of minipacs nodes sharing a bucket and a database.
type cluster struct {
	store    []string // storage flags (the shared bucket)
	env      []string
	indexURL string
	nodes    []*server
}

// startCluster starts n nodes, each on its own data directory, all on a
// fresh bucket and indexURL.
func startCluster(t *testing.T, indexURL string, n int) *cluster {
	t.Helper()
	st := s3Store(t)
	c := &cluster{store: st.args(t), env: st.env, indexURL: indexURL}
	for range n {
		args := append(append([]string{}, c.store...), "--index-url", indexURL)
		c.nodes = append(c.nodes, startServerDir(t, t.TempDir(), args, c.env))
	}
	return c
}

// adminArgs are the flags of verify and gc on the shared index and bucket.
func (c *cluster) adminArgs(more ...string) []string {
	return append(append(append([]string{}, c.store...), "--index-url", c.indexURL), more...)
}

// httpResult is one answer, without failing the test (goroutines use it).
type httpResult struct {
	status int
	header http.Header
	body   []byte
}

func httpGet(ctx context.Context, client *http.Client, url, accept string) (httpResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return httpResult{}, err
	}
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		return httpResult{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return httpResult{resp.StatusCode, resp.Header, b}, err
}

// qidoBody runs a QIDO query on s and returns the body with s's base URL
// replaced by "BASE" (RetrieveURL names the node), failing on non-200.
func qidoBody(t *testing.T, s *server, path string) []byte {
	t.Helper()
	r, err := httpGet(context.Background(), httpClient, s.url(path), acceptJSON)
	if err != nil {
		t.Fatalf("QIDO %s on %s: %v", path, s.base, err)
	}
	if r.status != http.StatusOK {
		t.Fatalf("QIDO %s on %s: status %d: %.300s", path, s.base, r.status, r.body)
	}
	if w := r.header.Values("Warning"); len(w) > 0 {
		t.Errorf("QIDO %s on %s: Warning %q", path, s.base, w)
	}
	return bytes.ReplaceAll(r.body, []byte(s.base), []byte("BASE"))
}

// qidoValues parses a QIDO answer and returns the values of tag (e.g.
// 0020000D) of its results, in order.
func qidoValues(t *testing.T, body []byte, tag string) []string {
	t.Helper()
	var res []map[string]jsonAttr
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("QIDO answer is not a JSON array: %v: %.300s", err, body)
	}
	out := make([]string, len(res))
	for i, r := range res {
		out[i] = r[tag].str(0)
	}
	return out
}

// allSOPs pages through /instances on s and returns the SOP Instance UIDs.
func allSOPs(t *testing.T, s *server) map[string]bool {
	t.Helper()
	const page = 1000
	got := map[string]bool{}
	for off := 0; ; off += page {
		uids := qidoValues(t, qidoBody(t, s, fmt.Sprintf("/instances?limit=%d&offset=%d", page, off)), "00080018")
		for _, u := range uids {
			if got[u] {
				t.Errorf("QIDO on %s: SOP Instance UID %s listed twice", s.base, u)
			}
			got[u] = true
		}
		if len(uids) < page {
			return got
		}
	}
}

// stowOK checks a STOW answer: 200, or 202 whose problems are warnings
// only; it returns a description of what is wrong, "" when nothing.
func stowOK(status int, body []byte, err error, batch []*synthInstance) string {
	if err != nil {
		return fmt.Sprintf("transport error: %v", err)
	}
	if status != http.StatusOK && status != http.StatusAccepted {
		return fmt.Sprintf("status %d: %.400s", status, body)
	}
	res, perr := parseStow(body)
	if perr != nil {
		return fmt.Sprintf("status %d: %v", status, perr)
	}
	if len(res.failed) > 0 {
		return fmt.Sprintf("status %d with failures %+v", status, res.failed)
	}
	if status == http.StatusAccepted {
		warned := false
		for _, r := range res.referenced {
			warned = warned || r.warning != 0
		}
		if !warned {
			return "status 202 without warnings or failures"
		}
	}
	if len(res.referenced) != len(batch) {
		return fmt.Sprintf("status %d: %d of %d instances referenced", status, len(res.referenced), len(batch))
	}
	return ""
}

// randomBatches cuts list, in a random order, into batches of 1..maxSize.
func randomBatches(list []*synthInstance, maxSize int) [][]*synthInstance {
	order := rand.Perm(len(list))
	var out [][]*synthInstance
	for i := 0; i < len(order); {
		k := min(len(order)-i, 1+rand.IntN(maxSize))
		b := make([]*synthInstance, k)
		for j := range k {
			b[j] = list[order[i+j]]
		}
		out = append(out, b)
		i += k
	}
	return out
}

func TestMultiNode(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node suite skipped in -short mode")
	}
	start := time.Now()
	pg := pgtest.Start(t, pgtest.Options{})
	c := startCluster(t, pg.URL(), 3)
	corpus := genCorpus(t, "-mode", "ct", "-studies", "4", "-series-per-study", "2",
		"-instances-per-series", "15", "-rows", "32", "-cols", "32", "-seed", "71")
	client := &http.Client{Timeout: 60 * time.Second}
	ctx := context.Background()

	// (a) Every batch goes to two nodes at once, batches from 6 workers.
	sentTo := map[string]map[int]bool{} // SOP -> nodes it was sent to
	type job struct {
		batch []*synthInstance
		nodes [2]int
	}
	var jobs []job
	for i, b := range randomBatches(corpus, 6) {
		j := job{b, [2]int{i % 3, (i + 1 + rand.IntN(2)) % 3}}
		jobs = append(jobs, j)
		for _, in := range b {
			if sentTo[in.sop] == nil {
				sentTo[in.sop] = map[int]bool{}
			}
			sentTo[in.sop][j.nodes[0]], sentTo[in.sop][j.nodes[1]] = true, true
		}
	}
	work := make(chan job)
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				var pair sync.WaitGroup
				for _, n := range j.nodes {
					pair.Add(1)
					go func() {
						defer pair.Done()
						status, body, err := postBatch(ctx, client, c.nodes[n].base, j.batch)
						if v := stowOK(status, body, err, j.batch); v != "" {
							t.Errorf("STOW of %d instances to node %d: %s", len(j.batch), n, v)
						}
					}()
				}
				pair.Wait()
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	t.Logf("(a) %d batches of %d instances sent to two nodes each (%v)", len(jobs), len(corpus), time.Since(start).Round(time.Millisecond))
	if t.Failed() {
		t.FailNow()
	}

	// (b) Identical QIDO answers from every node; one row per UID.
	studies, series := map[string]bool{}, map[string][]string{}
	for _, in := range corpus {
		if !studies[in.study] {
			studies[in.study] = true
		}
		if !contains(series[in.study], in.series) {
			series[in.study] = append(series[in.study], in.series)
		}
	}
	nSeries := 0
	for _, s := range series {
		nSeries += len(s)
	}
	paths := []string{"/studies?limit=1000", "/series?limit=1000", "/instances?limit=1000"}
	for st, ss := range series {
		paths = append(paths, "/studies/"+st+"/series")
		for _, se := range ss {
			paths = append(paths, "/studies/"+st+"/series/"+se+"/instances")
		}
	}
	for _, p := range paths {
		want := qidoBody(t, c.nodes[0], p)
		for i, s := range c.nodes[1:] {
			if got := qidoBody(t, s, p); !bytes.Equal(got, want) {
				t.Errorf("QIDO %s: node %d answers differently from node 0:\n%s\nvs\n%s", p, i+1, tail(string(got), 5), tail(string(want), 5))
			}
		}
	}
	for _, x := range []struct {
		path, tag string
		want      int
	}{{"/studies?limit=1000", "0020000D", len(studies)}, {"/series?limit=1000", "0020000E", nSeries}, {"/instances?limit=1000", "00080018", len(corpus)}} {
		if got := qidoValues(t, qidoBody(t, c.nodes[0], x.path), x.tag); len(got) != x.want {
			t.Errorf("QIDO %s: %d results, want %d", x.path, len(got), x.want)
		}
	}
	for _, x := range []struct {
		sql  string
		want int
	}{
		{"SELECT count(*), count(DISTINCT sop_uid), count(DISTINCT object_key) FROM instances", len(corpus)},
		{"SELECT count(*), count(DISTINCT uid), count(DISTINCT uid) FROM series", nSeries},
		{"SELECT count(*), count(DISTINCT uid), count(DISTINCT uid) FROM studies", len(studies)},
	} {
		if got, want := pg.Psql(t, x.sql), fmt.Sprintf("%d|%d|%d", x.want, x.want, x.want); got != want {
			t.Errorf("%s: %s, want %s", x.sql, got, want)
		}
	}

	// (c) Every instance bit-exact from the node it was not sent to.
	byNode := make([][]*synthInstance, 3)
	for _, in := range corpus {
		for n := range 3 {
			if !sentTo[in.sop][n] {
				byNode[n] = append(byNode[n], in)
				break
			}
		}
	}
	for n, list := range byNode {
		for _, v := range retrieveViolations(t, c.nodes[n], list) {
			t.Errorf("retrieve from node %d (not sent there): %s", n, v)
		}
	}
	t.Logf("(b, c) %d QIDO queries identical on 3 nodes; %d instances retrieved from a node they were not sent to (%v)",
		len(paths), len(corpus), time.Since(start).Round(time.Millisecond))

	// (d) kill -9 of node 0 in the middle of an upload stream.
	more := genCorpus(t, "-mode", "tiny", "-n", "400", "-seed", "72")
	batches := randomBatches(more, 5)
	acks := newAckSet()
	var sent atomic.Int64
	streamCtx, cancelStream := context.WithCancel(ctx)
	defer cancelStream()
	next := make(chan []*synthInstance, len(batches))
	for _, b := range batches {
		next <- b
	}
	close(next)
	victim := c.nodes[0]
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				status, body, err := postBatch(streamCtx, client, victim.base, b)
				sent.Add(1)
				if err != nil {
					return // killed
				}
				if v := stowOK(status, body, nil, b); v != "" {
					t.Errorf("STOW to node 0 before the kill: %s", v)
				}
				if err := acks.record(status, body, b); err != nil {
					t.Errorf("node 0: %v", err)
				}
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(acks.list()) < 40 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	victim.stop(syscall.SIGKILL)
	wg.Wait()
	acked := acks.list()
	t.Logf("(d) node 0 killed after %d acknowledged of %d instances, %d of %d requests sent", len(acked), len(more), sent.Load(), len(batches))
	if len(acked) == len(more) {
		t.Errorf("node 0 acknowledged everything before the kill: the kill did not interrupt the stream (make the corpus larger)")
	}
	for _, n := range c.nodes[1:] {
		listed := allSOPs(t, n)
		missing := 0
		for _, in := range acked {
			if !listed[in.sop] {
				missing++
				if missing <= 10 {
					t.Errorf("acknowledged %s (by node 0) is not in QIDO of %s", in.sop, n.base)
				}
			}
		}
		for _, v := range retrieveViolations(t, n, acked) {
			t.Errorf("after the kill, from %s: %s", n.base, v)
		}
	}
	// Re-send every batch of the stream, acknowledged or not, to node 1.
	resend := newAckSet()
	for _, b := range batches {
		status, body, err := postBatch(ctx, client, c.nodes[1].base, b)
		if v := stowOK(status, body, err, b); v != "" {
			t.Errorf("re-send of %d instances to node 1: %s", len(b), v)
			continue
		}
		if err := resend.record(status, body, b); err != nil {
			t.Error(err)
		}
	}
	if got := len(resend.list()); got != len(more) {
		t.Errorf("re-send: %d of %d instances acknowledged", got, len(more))
	}
	total := len(corpus) + len(more)
	for _, n := range c.nodes[1:] {
		if got := len(allSOPs(t, n)); got != total {
			t.Errorf("QIDO /instances on %s: %d instances, want %d", n.base, got, total)
		}
	}
	if got, want := pg.Psql(t, "SELECT count(*), count(DISTINCT sop_uid) FROM instances"), fmt.Sprintf("%d|%d", total, total); got != want {
		t.Errorf("instances in the database: %s, want %s", got, want)
	}
	for _, v := range retrieveViolations(t, c.nodes[2], more) {
		t.Errorf("after the re-send, from node 2: %s", v)
	}

	// (e) verify and gc --dry-run beside the two running nodes.
	out, err := runCmd(t, c.env, "verify", t.TempDir(), c.adminArgs("--json")...)
	var rep struct {
		Instances, Checked, Missing, Mismatch, Unreadable, Orphans int64
	}
	if jerr := json.Unmarshal([]byte(jsonPart(out)), &rep); jerr != nil {
		t.Errorf("verify: %v (exit %v):\n%s", jerr, err, tail(out, 30))
	} else {
		t.Logf("(e) verify: %+v (exit: %v)", rep, err)
		if rep.Missing+rep.Mismatch+rep.Unreadable != 0 || rep.Instances != int64(total) || rep.Checked != int64(total) {
			t.Errorf("verify on the shared index: %+v, want %d instances checked, none missing, mismatched or unreadable:\n%s", rep, total, tail(out, 30))
		}
		if err != nil && rep.Orphans == 0 {
			t.Errorf("verify failed without a problem to show: %v\n%s", err, tail(out, 30))
		}
	}
	out, err = runCmd(t, c.env, "gc", t.TempDir(), c.adminArgs("--grace", "0", "--dry-run")...)
	if err != nil {
		t.Errorf("gc --dry-run: %v\n%s", err, tail(out, 30))
	}
	referenced := map[string]bool{}
	for _, k := range strings.Split(pg.Psql(t, "SELECT object_key FROM instances"), "\n") {
		referenced[k] = true
	}
	would := 0
	for _, l := range strings.Split(out, "\n") {
		if k, ok := strings.CutPrefix(l, "would remove "); ok {
			k, _, _ = strings.Cut(k, " (")
			would++
			if referenced[k] {
				t.Errorf("gc --dry-run would remove %s, which an instance references", k)
			}
		}
	}
	t.Logf("(e) object claims left in the database (the killed node's included): %s", pg.Psql(t, "SELECT count(*) FROM object_claims"))
	t.Logf("(e) gc --dry-run: %d orphans listed (the killed node's unacknowledged uploads); %s", would, tail(strings.TrimSpace(out), 1))

	// (f) reindex: the database lost, a new empty one is rebuilt from the
	// bucket alone; a second run finds everything indexed.
	fresh := pg.NewDatabase(t)
	rargs := append(append([]string{}, c.store...), "--index-url", fresh)
	out, err = runCmd(t, c.env, "reindex", t.TempDir(), rargs...)
	if err != nil {
		t.Fatalf("reindex into an empty database: %v\n%s", err, tail(out, 30))
	}
	rebuilt, err := postgres.Open(context.Background(), fresh, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rebuilt.Close()
	if _, _, n, err := rebuilt.Stats(context.Background()); err != nil || n != total {
		t.Errorf("(f) reindex rebuilt %d instances (%v), want %d:\n%s", n, err, total, tail(out, 10))
	}
	out, err = runCmd(t, c.env, "reindex", t.TempDir(), rargs...)
	if err != nil || !strings.Contains(out, fmt.Sprintf("(0 indexed, %d already indexed, 0 skipped)", total)) {
		t.Errorf("(f) second reindex: %v\n%s", err, tail(out, 10))
	}
	t.Logf("(f) reindex: %s", tail(strings.TrimSpace(out), 1))
	t.Logf("TestMultiNode done in %v", time.Since(start).Round(time.Millisecond))
}

// jsonPart is the JSON object of a command's output (logs may precede it).
func jsonPart(out string) string {
	if i := strings.Index(out, "{\n"); i >= 0 {
		return out[i:]
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// outage records the answers of the nodes around a failover.
type outage struct {
	mu                 sync.Mutex
	first503, last503  time.Time
	n503, noRetryAfter int
	by503              map[string]int // 503s by request kind (first word of what)
	other              []string
	lastOK             time.Time
}

// note records an answer; what says which request it was.
func (o *outage) note(what string, status int, header http.Header, body []byte, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	switch {
	case err != nil:
		o.other = append(o.other, fmt.Sprintf("%s %s: %v", now.Format("15:04:05.000"), what, err))
	case status == http.StatusServiceUnavailable:
		if o.first503.IsZero() {
			o.first503 = now
		}
		o.last503 = now
		o.n503++
		if o.by503 == nil {
			o.by503 = map[string]int{}
		}
		o.by503[strings.Fields(what)[0]]++
		if header.Get("Retry-After") == "" {
			o.noRetryAfter++
		}
	case status == http.StatusOK || status == http.StatusAccepted:
		o.lastOK = now
	default:
		o.other = append(o.other, fmt.Sprintf("%s %s: status %d: %.300s", now.Format("15:04:05.000"), what, status, body))
	}
}

func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("failover suite skipped in -short mode")
	}
	start := time.Now()
	primary := pgtest.Start(t, pgtest.Options{})
	standby := primary.StartStandby(t, true)
	c := startCluster(t, pgtest.MultiHostURL(primary, standby), 2)
	corpus := genCorpus(t, "-mode", "tiny", "-n", "2000", "-seed", "73")
	client := &http.Client{Timeout: 30 * time.Second}

	// Four streams (two a node), each on its own quarter of the corpus,
	// going round again (re-sends: "existed") when done, until stopped.
	acks := newAckSet()
	var o outage
	stop := make(chan struct{})
	var wg sync.WaitGroup
	quarter := len(corpus) / 4
	for k := range 4 {
		node := c.nodes[k%2]
		slice := corpus[k*quarter : (k+1)*quarter]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				for _, b := range randomBatches(slice, 5) {
					select {
					case <-stop:
						return
					default:
					}
					status, h, body, err := postStow(client, node.base, b)
					o.note("STOW to "+node.base, status, h, body, err)
					if err != nil || (status != http.StatusOK && status != http.StatusAccepted) {
						if status == http.StatusServiceUnavailable {
							time.Sleep(100 * time.Millisecond) // a polite client; Retry-After is a hint
						}
						continue
					}
					if v := stowOK(status, body, nil, b); v != "" {
						// A batch cut by the crash: some stored, the rest
						// 0xA700 (out of resources, the index unavailable).
						if res, _ := parseStow(body); status != http.StatusAccepted || !onlyFailure(res, 0xA700) {
							t.Errorf("STOW to %s: %s", node.base, v)
						} else {
							t.Logf("STOW to %s: partly stored: %s", node.base, v)
						}
					}
					if err := acks.record(status, body, b); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	for len(acks.list()) < 100 && time.Since(start) < 60*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%d acknowledged before the crash", len(acks.list()))

	// Crash the primary; probe both nodes with QIDO and STOW (headers
	// kept) until the promotion and after, until both succeed again.
	crash := time.Now()
	primary.StopImmediate(t)
	probe := rand.IntN(1 << 30)
	probeOnce := func() (ok bool) {
		ok = true
		for i, n := range c.nodes {
			r, err := httpGet(context.Background(), client, n.url("/studies?limit=1"), acceptJSON)
			o.note("QIDO on "+n.base, r.status, r.header, r.body, err)
			if err != nil || r.status != http.StatusOK {
				ok = false
			}
			in := corpus[(probe+i)%len(corpus)]
			st, h, body, err := postStow(client, n.base, []*synthInstance{in})
			o.note("probe STOW to "+n.base, st, h, body, err)
			if err != nil || st != http.StatusOK && st != http.StatusAccepted {
				ok = false
			} else if err := acks.record(st, body, []*synthInstance{in}); err != nil {
				t.Error(err)
			}
		}
		probe += 2
		return ok
	}
	for time.Since(crash) < 1500*time.Millisecond {
		probeOnce()
		time.Sleep(100 * time.Millisecond)
	}
	promote := time.Now()
	standby.Promote(t)
	t.Logf("standby promoted %v after the crash (promotion took %v)", promote.Sub(crash).Round(time.Millisecond), time.Since(promote).Round(time.Millisecond))
	var recovered time.Time
	for time.Since(promote) < 30*time.Second {
		if probeOnce() {
			recovered = time.Now()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if recovered.IsZero() {
		t.Errorf("the nodes did not recover within 30 s of the promotion")
	} else {
		t.Logf("both nodes answer QIDO and STOW again %v after the promotion, %v after the crash",
			recovered.Sub(promote).Round(time.Millisecond), recovered.Sub(crash).Round(time.Millisecond))
	}
	ackAtRecovery := len(acks.list())
	time.Sleep(1500 * time.Millisecond) // the streams go on after the recovery
	close(stop)
	wg.Wait()
	if n := len(acks.list()); n <= ackAtRecovery {
		t.Errorf("no acknowledgements after the recovery (%d at recovery, %d at the end)", ackAtRecovery, n)
	}

	o.mu.Lock()
	if o.n503 == 0 {
		t.Errorf("no 503 answers at all during the failover")
	} else {
		t.Logf("503 window: %d answers were 503 (%v), from %v to %v after the crash (%v long); the primary was down %v before the promotion",
			o.n503, o.by503, o.first503.Sub(crash).Round(time.Millisecond), o.last503.Sub(crash).Round(time.Millisecond),
			o.last503.Sub(o.first503).Round(time.Millisecond), promote.Sub(crash).Round(time.Millisecond))
	}
	if o.noRetryAfter > 0 {
		t.Errorf("%d of %d 503 answers had no Retry-After", o.noRetryAfter, o.n503)
	}
	for i, x := range o.other {
		if i == 20 {
			t.Errorf("... %d more", len(o.other)-20)
			break
		}
		t.Errorf("answer other than 200/202/503: %s", x)
	}
	o.mu.Unlock()

	acked := acks.list()
	for _, n := range c.nodes {
		listed := allSOPs(t, n)
		missing := 0
		for _, in := range acked {
			if !listed[in.sop] {
				missing++
				if missing <= 10 {
					t.Errorf("acknowledged %s is not in QIDO of %s", in.sop, n.base)
				}
			}
		}
		if missing > 0 {
			t.Errorf("%d of %d acknowledged instances missing from QIDO of %s", missing, len(acked), n.base)
		}
		v := retrieveViolations(t, n, acked)
		for i, x := range v {
			if i == 10 {
				t.Errorf("... %d more", len(v)-10)
				break
			}
			t.Errorf("from %s: %s", n.base, x)
		}
	}
	t.Logf("%d acknowledged instances visible and bit-exact on both nodes; TestFailover done in %v", len(acked), time.Since(start).Round(time.Millisecond))
}

// onlyFailure reports whether res has failures and all have reason code.
func onlyFailure(res stowResult, code int) bool {
	for _, f := range res.failed {
		if f.failure != code {
			return false
		}
	}
	return len(res.failed) > 0
}

// postStow sends batch by STOW and returns the answer with its headers.
func postStow(client *http.Client, base string, batch []*synthInstance) (int, http.Header, []byte, error) {
	parts := make([][]byte, len(batch))
	for i, in := range batch {
		parts[i] = in.data
	}
	body, ct := multipartBody(parts...)
	req, err := http.NewRequest(http.MethodPost, base+"/dicomweb/studies", bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Accept", acceptJSON)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// TestMultiNodeBreakGlass: a break-glass grant made through one node opens
// the patient on the other (grants are index records when nodes share the
// index), and both list it for review.
func TestMultiNodeBreakGlass(t *testing.T) {
	pg := pgtest.Start(t, pgtest.Options{})
	st := s3Store(t)
	store := st.args(t)
	dir := t.TempDir()
	adminTok, adminLine := secMakeToken(t, "boss", "admin")
	docTok, docLine := secMakeToken(t, "doctor", "reader", "--patients", "PA")
	tokens := secWriteFile(t, dir, "tokens", adminLine, docLine)
	var nodes []*secServer
	for range 2 {
		args := append(append([]string{}, store...), "--index-url", pg.URL(), "--api-tokens", tokens, "--break-glass-duration", "1h")
		client := &http.Client{Timeout: 30 * time.Second}
		nodes = append(nodes, &secServer{server: launch(t, t.TempDir(), args, st.env, "http", client), client: client})
	}
	a, b := nodes[0], nodes[1]
	own := secStudy("8.1", 1, "PA", "Alpha^Patient")
	other := secStudy("8.2", 1, "PB", "Beta^Patient")
	a.mustStow(t, bearer(adminTok), append(own, other...)...)
	meta := func(s *secServer) int {
		return s.must(t, "GET", "/dicomweb/studies/"+other[0].study+"/metadata",
			secHdr("Authorization", bearer(docTok), "Accept", acceptJSON), nil).status
	}
	if ma, mb := meta(a), meta(b); ma != http.StatusNotFound || mb != http.StatusNotFound {
		t.Fatalf("before the grant: %d on a, %d on b; want 404", ma, mb)
	}
	const reason = "trauma bay: prior imaging of this patient needed now"
	r := a.must(t, "POST", "/auth/break-glass", secHdr("Authorization", bearer(docTok), "Content-Type", "application/json"),
		[]byte(`{"study":"`+other[0].study+`","reason":"`+reason+`"}`))
	if r.status != http.StatusCreated {
		t.Fatalf("grant on a: %s", r)
	}
	granted := time.Now()
	deadline := granted.Add(10 * time.Second)
	for meta(b) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("the grant made on node a never opened the study on node b")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("grant in effect on node b %v after it was made on node a", time.Since(granted).Round(time.Millisecond))
	if meta(a) != http.StatusOK {
		t.Fatal("the grant does not open the study on node a")
	}
	for i, s := range nodes {
		l := s.must(t, "GET", "/admin/break-glass", secHdr("Authorization", bearer(adminTok), "Accept", "application/json"), nil)
		if l.status != http.StatusOK || !strings.Contains(string(l.body), reason) {
			t.Errorf("node %d lists: %s", i, l)
		}
	}
}
