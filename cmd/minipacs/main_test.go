package main

import (
	"go/parser"
	gotoken "go/token"
	"strings"
	"testing"
)

// TestDocListsCommands checks that the package doc lists every command of
// the dispatch table, and help.
func TestDocListsCommands(t *testing.T) {
	f, err := parser.ParseFile(gotoken.NewFileSet(), "main.go", nil, parser.PackageClauseOnly|parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	doc := f.Doc.Text()
	names := []string{"help"}
	for n := range commands() {
		names = append(names, n)
	}
	for _, n := range names {
		if !strings.Contains(doc, "\tminipacs "+n+" ") && !strings.Contains(doc, "\tminipacs ["+n+"] ") {
			t.Errorf("the doc comment of main.go does not list %q", n)
		}
	}
}
