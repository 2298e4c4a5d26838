package main_test

// Index loss: every QIDO level answer and every /metadata answer is
// recorded, the server stopped, index.db deleted, `minipacs reindex` run,
// the server restarted, and every answer compared byte for byte (after
// sorting the result lists and replacing host:port).

import (
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
)

func TestReliabilityIndexLoss(t *testing.T) {
	corpus := append(
		genCorpus(t, "-mode", "ct", "-studies", "3", "-series-per-study", "2", "-instances-per-series", "4", "-rows", "16", "-cols", "16", "-seed", "63"),
		genCorpus(t, "-mode", "tiny", "-n", "30", "-seed", "64")...)
	t.Run("disk", func(t *testing.T) { indexLoss(t, diskStore, corpus) })
	t.Run("s3", func(t *testing.T) { indexLoss(t, s3Store(t), corpus) })
}

func indexLoss(t *testing.T, st storeKind, corpus []*synthInstance) {
	s := startServer(t, st)
	for i := 0; i < len(corpus); i += 10 {
		batch := corpus[i:min(len(corpus), i+10)]
		if status, body, err := postBatch(t.Context(), httpClient, s.base, batch); err != nil || status != 200 {
			t.Fatalf("upload: %d %v %.300s", status, err, body)
		}
	}
	studies, series := map[string]bool{}, map[[2]string]bool{}
	for _, in := range corpus {
		studies[in.study] = true
		series[[2]string{in.study, in.series}] = true
	}
	var paths []string
	paths = append(paths, "/studies?limit=1000&includefield=all", "/series?limit=1000&includefield=all", "/instances?limit=1000&includefield=all",
		"/studies?limit=1000", "/series?limit=1000", "/instances?limit=1000")
	for st := range studies {
		paths = append(paths, "/studies/"+st+"/series?includefield=all", "/studies/"+st+"/instances?includefield=all", "/studies/"+st+"/metadata")
	}
	for se := range series {
		paths = append(paths, "/studies/"+se[0]+"/series/"+se[1]+"/instances?includefield=all", "/studies/"+se[0]+"/series/"+se[1]+"/metadata")
	}
	for _, in := range corpus {
		paths = append(paths, in.path()+"/metadata")
	}
	sort.Strings(paths)
	record := func(s *server) map[string]string {
		out := map[string]string{}
		for _, p := range paths {
			r := get(t, s.url(p), acceptJSON)
			if r.status != 200 {
				t.Fatalf("GET %s: %s", p, r)
			}
			norm, _, err := normalizeQIDO(r.body, s.base)
			if err != nil {
				t.Fatalf("GET %s: %v", p, err)
			}
			out[p] = string(norm)
		}
		return out
	}
	before := record(s)
	s.stop(syscall.SIGTERM)
	if err := os.Remove(filepath.Join(s.dataDir, "index.db")); err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, st.env, "reindex", s.dataDir, storageOnly(s.args)...)
	if err != nil {
		t.Fatalf("reindex: %v\n%s", err, out)
	}
	t.Logf("reindex: %s", out)
	s2 := startServerDir(t, s.dataDir, s.args, s.env)
	after := record(s2)
	diffs := 0
	for _, p := range paths {
		if before[p] != after[p] {
			diffs++
			if diffs <= 5 {
				t.Errorf("%s differs after reindex:\n%s", p, lineDiff(before[p], after[p]))
			}
		}
	}
	t.Logf("compared %d answers (%d QIDO/metadata paths), %d differ", len(paths), len(paths), diffs)
}
