package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/testkit/pgtest"
	"github.com/minipacs/minipacs/index"
)

// parse splits output lines "name=X k=v ..." into maps.
func parse(t *testing.T, out string) []map[string]string {
	t.Helper()
	var lines []map[string]string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		m := map[string]string{}
		for _, f := range strings.Fields(l) {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				t.Fatalf("field %q of line %q is not k=v", f, l)
			}
			m[k] = v
		}
		lines = append(lines, m)
	}
	return lines
}

func TestGenSpreadsStudies(t *testing.T) {
	g := gen(10)
	a, b, c := g(0), g(9), g(10)
	if a.StudyUID != b.StudyUID || a.StudyUID == c.StudyUID {
		t.Errorf("instances 0 and 9 share a study, 10 starts the next: %s %s %s", a.StudyUID, b.StudyUID, c.StudyUID)
	}
	if a.SeriesUID == g(1).SeriesUID || a.SeriesUID != g(2).SeriesUID {
		t.Errorf("two series per study, alternating: %s %s %s", a.SeriesUID, g(1).SeriesUID, g(2).SeriesUID)
	}
	if a.SOPInstanceUID == b.SOPInstanceUID || a.PatientID != b.PatientID {
		t.Errorf("instances of a study: distinct SOPs, one patient: %+v %+v", a, b)
	}
}

// TestGrowAndQuery runs the query subcommand in-process on an index grown
// by populate, and checks every search finds what exists.
func TestGrowAndQuery(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/index.db"
	ix, err := index.Open(ctx, path, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n, per = 600, 4
	if err := populate(ctx, ix, 0, n, 16, 1, gen(per)); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runQuery(ctx, []string{"-db", path, "-n", "5", "-studies", strconv.Itoa(n / per)}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	lines := parse(t, out.String())
	byName := map[string]map[string]string{}
	for _, l := range lines {
		byName[l["name"]] = l
	}
	if o := byName["open"]; o["studies"] != "150" || o["series"] != "300" || o["instances"] != "600" {
		t.Errorf("open: %v", o)
	}
	for _, q := range []string{"pn_exact", "pn_wildcard", "pid", "date_month", "all", "modality", "accession"} {
		l := byName["search_"+q]
		if l == nil {
			t.Errorf("no line for %s in %q", q, out.String())
			continue
		}
		if m, _ := strconv.Atoi(l["matches"]); m < 1 || m > 25 || l["n"] != "5" {
			t.Errorf("%s: %v", q, l)
		}
	}
	if byName["search_all"]["matches"] != "25" {
		t.Errorf("all: %v", byName["search_all"])
	}
	if byName["search_all100"]["matches"] != "100" {
		t.Errorf("all100: %v", byName["search_all100"])
	}
	if byName["search_accession"]["matches"] != "1" {
		t.Errorf("accession: %v", byName["search_accession"])
	}
	if v, _ := strconv.ParseFloat(byName["memory"]["vmhwm_mb"], 64); v <= 0 {
		t.Errorf("memory: %v", byName["memory"])
	}
}

// TestGrowPostgres grows a PostgreSQL index in two steps with PutMany
// batches and checks the size and search lines of both steps.
func TestGrowPostgres(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	var out bytes.Buffer
	// runGrow runs the query child as os.Executable: the test binary, whose
	// TestMain runs main for it.
	if err := runGrow(context.Background(), []string{"-index-url", srv.URL(), "-sizes", "300,700", "-per-study", "1",
		"-n", "3", "-batch", "40", "-writers", "3"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var grows, searches int
	for _, l := range parse(t, out.String()) {
		if l["engine"] != "postgres" {
			t.Errorf("engine: %v", l)
		}
		switch {
		case l["name"] == "grow":
			grows++
			per, _ := strconv.ParseFloat(l["bytes_per_instance"], 64)
			db, _ := strconv.ParseInt(l["db_bytes"], 10, 64)
			empty, _ := strconv.ParseInt(l["empty_bytes"], 10, 64)
			if per <= 0 || empty <= 0 || db <= empty {
				t.Errorf("grow sizes: %v", l)
			}
		case l["name"] == "open":
			if l["studies"] != l["size"] {
				t.Errorf("open: %v", l)
			}
		case strings.HasPrefix(l["name"], "search_"):
			searches++
			if m, _ := strconv.Atoi(l["matches"]); m < 1 {
				t.Errorf("%v: no match", l)
			}
		}
	}
	if grows != 2 || searches != 2*8 {
		t.Errorf("%d grow lines, %d search lines; want 2 and 16:\n%s", grows, searches, out.String())
	}
	// A database that is not empty is refused: its size cannot be told.
	if err := runGrow(context.Background(), []string{"-index-url", srv.URL(), "-sizes", "800", "-per-study", "1", "-n", "1"},
		io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("grow of a populated database: %v", err)
	}
}

// TestMain runs the command itself when the test binary is started as the
// query child (runGrow runs os.Executable with "query").
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "query" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-sizes", "100,10"},
		{"-sizes", "x"},
		{"-per-study", "0"},
		{"-batch", "0"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if err := runGrow(context.Background(), append(args, "-dir", t.TempDir()), io.Discard, io.Discard); err == nil {
				t.Error("no error")
			}
		})
	}
	if err := runQuery(context.Background(), []string{"-db", ""}, io.Discard, io.Discard); err == nil {
		t.Error("query without -db: no error")
	}
	if err := runQuery(context.Background(), []string{"-db", "x", "-index-url", "postgres://127.0.0.1:1/x"}, io.Discard, io.Discard); err == nil {
		t.Error("query with both -db and -index-url: no error")
	}
	if err := runQuery(context.Background(), []string{"-db", os.DevNull + "/nope/index.db"}, io.Discard, io.Discard); err == nil {
		t.Error("query of a missing directory: no error")
	}
}
