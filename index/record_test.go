package index

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// TestRecords: records are written atomically, read back, listed by
// prefix, deleted, refused for an unknown kind, and carried into another
// index by CopyRecords.
func TestRecords(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ix, err := Open(ctx, filepath.Join(dir, "a.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	err = ix.PutRecords(ctx,
		Record{Kind: RecordOrder, Key: "A1\x00S1", Value: []byte(`{"a":1}`)},
		Record{Kind: RecordOrder, Key: "A1\x00S2", Value: []byte(`{"a":2}`)},
		Record{Kind: RecordOrder, Key: "B1\x00S1", Value: []byte(`{"b":1}`)},
		Record{Kind: RecordJournal, Key: "RIS^H\x001", Value: []byte("MSH|ack")},
	)
	if err != nil {
		t.Fatal(err)
	}
	// A failing write changes nothing.
	if err := ix.PutRecords(ctx, Record{Kind: RecordOrder, Key: "C1", Value: []byte("x")}, Record{Kind: "nope", Key: "k"}); err == nil {
		t.Fatal("unknown kind accepted")
	}
	if _, err := ix.GetRecord(ctx, RecordOrder, "C1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("half a failed write is visible: %v", err)
	}
	var keys []string
	if err := ix.ForEachRecord(ctx, RecordOrder, "A1\x00", func(k string, v []byte) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0] != "A1\x00S1" || keys[1] != "A1\x00S2" {
		t.Fatalf("prefix scan: %q", keys)
	}
	if err := ix.PutRecords(ctx, Record{Kind: RecordOrder, Key: "A1\x00S2", Delete: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.GetRecord(ctx, RecordOrder, "A1\x00S2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted record: %v", err)
	}
	if err := ix.PutRecords(ctx, Record{Kind: RecordOrder, Key: ""}); err == nil {
		t.Fatal("empty key accepted")
	}

	other, err := Open(ctx, filepath.Join(dir, "b.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	n, err := other.CopyRecords(ctx, ix)
	if err != nil || n != 3 {
		t.Fatalf("CopyRecords: %d, %v", n, err)
	}
	if v, err := other.GetRecord(ctx, RecordJournal, "RIS^H\x001"); err != nil || string(v) != "MSH|ack" {
		t.Fatalf("copied journal: %q %v", v, err)
	}
}
