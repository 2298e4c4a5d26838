package index

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// mdInstance is instance k of series se of a study, with metadata JSON
// that shares most bytes with its series (as real series do) plus the
// given extra member.
func mdInstance(study string, se, k int, extra string) *Instance {
	series := fmt.Sprintf("%s.%d", study, se)
	sop := fmt.Sprintf("%s.%d", series, k)
	sum := sha256.Sum256([]byte(sop + extra))
	meta := fmt.Sprintf(`{"00080016":{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.2"]},`+
		`"00080018":{"vr":"UI","Value":["%s"]},"00100010":{"vr":"PN","Value":[{"Alphabetic":"Doe^Jane"}]},`+
		`"0020000D":{"vr":"UI","Value":["%s"]},"0020000E":{"vr":"UI","Value":["%s"]},`+
		`"00200013":{"vr":"IS","Value":[%d]}%s}`, sop, study, series, k, extra)
	return &Instance{
		StudyUID: study, SeriesUID: series, SOPInstanceUID: sop, SOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
		ObjectKey: "dicom/" + hex.EncodeToString(sum[:]) + ".dcm", SHA256: sum, Size: 100,
		Instance: []Attr{{Tag: tagInstanceNumber, VR: "IS", Values: []string{fmt.Sprint(k)},
			JSON: fmt.Appendf(nil, `{"vr":"IS","Value":[%d]}`, k)}},
		Metadata: []byte(meta),
	}
}

// readAll returns what Metadata gives, copied.
func readAll(t *testing.T, ix *Index, study, series, sop string) [][]byte {
	t.Helper()
	var out [][]byte
	if err := ix.Metadata(context.Background(), study, series, sop, func(b []byte) error {
		out = append(out, slices.Clone(b))
		return nil
	}); err != nil {
		t.Fatalf("Metadata(%s, %s, %s): %v", study, series, sop, err)
	}
	return out
}

// TestMetadataRoundTrip: Metadata returns exactly the bytes given to Put,
// whatever the encoding chosen (built-in dictionary for a series' first
// instance, series dictionary, raw for short or incompressible objects,
// objects larger than a dictionary), also after the instance that gave its
// series the dictionary is deleted, and after a series is deleted and
// recreated with other metadata (stale cache entries).
func TestMetadataRoundTrip(t *testing.T) {
	ctx := context.Background()
	ix, err := Open(ctx, filepath.Join(t.TempDir(), "ix.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('!' + rng.IntN(90))
			if b[i] == '"' || b[i] == '\\' {
				b[i] = 'x'
			}
		}
		return string(b)
	}
	const study = "1.2.3.4"
	want := map[string][]byte{}
	put := func(in *Instance) {
		t.Helper()
		if _, err := ix.Put(ctx, in); err != nil {
			t.Fatal(err)
		}
		want[in.SOPInstanceUID] = in.Metadata
	}
	cases := []struct {
		name  string
		se    int
		extra func(k int) string
	}{
		{"similar", 1, func(int) string { return "" }},
		{"incompressible", 2, func(int) string { return `,"00081030":{"vr":"LO","Value":["` + random(3000) + `"]}` }},
		{"larger than a dictionary", 3, func(k int) string {
			return `,"00291010":{"vr":"LT","Value":["` + strings.Repeat("ab", 40000) + random(200) + `"]}`
		}},
	}
	for _, c := range cases {
		for k := 1; k <= 5; k++ {
			put(mdInstance(study, c.se, k, c.extra(k)))
		}
	}
	// A series whose first instance is too short for a dictionary.
	short := mdInstance(study, 4, 1, "")
	short.Metadata = []byte(`{}`)
	put(short)
	put(mdInstance(study, 4, 2, ""))
	put(mdInstance(study, 4, 3, ""))
	// A series of one instance.
	put(mdInstance(study, 5, 1, ""))

	check := func(t *testing.T) {
		t.Helper()
		var sops []string
		err := ix.view(ctx, "test", func(tx *bolt.Tx) error {
			sops, err = orderedSOPs(tx, study, "")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, ix, study, "", "")
		if len(got) != len(sops) || len(sops) != len(want) {
			t.Fatalf("study metadata: %d objects for %d instances, want %d", len(got), len(sops), len(want))
		}
		for i, sop := range sops {
			if !bytes.Equal(got[i], want[sop]) {
				t.Errorf("study metadata of %s differs:\n got %.200s\nwant %.200s", sop, got[i], want[sop])
			}
			one := readAll(t, ix, study, "", sop)
			if len(one) != 1 || !bytes.Equal(one[0], want[sop]) {
				t.Errorf("instance metadata of %s differs", sop)
			}
		}
		for se := 1; se <= 5; se++ {
			series := fmt.Sprintf("%s.%d", study, se)
			for _, b := range readAll(t, ix, study, series, "") {
				if !slices.ContainsFunc(slices.Collect(mapValues(want)), func(w []byte) bool { return bytes.Equal(w, b) }) {
					t.Errorf("series %s: unexpected metadata %.100s", series, b)
				}
			}
		}
	}
	t.Run("fresh", check)

	// Stored sizes: a series of similar objects costs a few dozen bytes
	// per instance after its first, which is encoded with the built-in
	// dictionary; a one-instance series has no dictionary of its own.
	err = ix.view(ctx, "test", func(tx *bolt.Tx) error {
		for _, se := range []int{1, 5} {
			if v := tx.Bucket(bMetadata).Get(fmt.Appendf(nil, "%s.%d.1", study, se)); len(v) == 0 || v[0] != mdJSON {
				t.Errorf("first instance of series %d stored as kind %v, want %d", se, v[:min(1, len(v))], mdJSON)
			}
		}
		if tx.Bucket(bMDict).Get(seriesKey(study, study+".5")) != nil {
			t.Error("a one-instance series has a dictionary")
		}
		for k := 2; k <= 5; k++ {
			v := tx.Bucket(bMetadata).Get([]byte(fmt.Sprintf("%s.1.%d", study, k)))
			if len(v) == 0 || v[0] != mdDict || len(v) > 80 {
				t.Errorf("instance %d of a similar series stored in %d bytes (kind %v), want a dictionary encoding <= 80", k, len(v), v[:min(1, len(v))])
			}
		}
		if v := tx.Bucket(bMetadata).Get([]byte(study + ".4.1")); len(v) == 0 || v[0] != mdRaw {
			t.Errorf("2-byte metadata not stored raw: %v", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Delete each series' first and second instances (the second is the
	// dictionary's source).
	for se := 1; se <= 4; se++ {
		for k := 1; k <= 2; k++ {
			sop := fmt.Sprintf("%s.%d.%d", study, se, k)
			if _, err := ix.Delete(ctx, study, "", sop); err != nil {
				t.Fatal(err)
			}
			delete(want, sop)
		}
	}
	t.Run("first instances deleted", check)

	// Delete series 1 and recreate it with other metadata: the cached
	// dictionary of the old series must not be used.
	if _, err := ix.Delete(ctx, study, study+".1", ""); err != nil {
		t.Fatal(err)
	}
	for k := 3; k <= 5; k++ {
		delete(want, fmt.Sprintf("%s.1.%d", study, k))
	}
	for k := 1; k <= 3; k++ {
		put(mdInstance(study, 1, k, `,"00081030":{"vr":"LO","Value":["recreated `+random(40)+`"]}`))
	}
	t.Run("series recreated", check)
	if n := ix.KeyCounts()["mdict"]; n != 4 {
		t.Errorf("mdict has %d keys, want 4 (one per series of more than one instance)", n)
	}
	if _, err := ix.Delete(ctx, study, "", ""); err != nil {
		t.Fatal(err)
	}
	if n := ix.KeyCounts()["mdict"]; n != 0 {
		t.Errorf("mdict has %d keys after deleting the study, want 0", n)
	}
}

func mapValues(m map[string][]byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// TestMetadataCorrupt: damaged stored metadata gives errCorrupt, never a
// panic or wrong bytes.
func TestMetadataCorrupt(t *testing.T) {
	d := newSeriesDict([]byte(`{"00080016":{"vr":"UI","Value":["1.2.3"]}}`))
	good := encodeMetadata(d, []byte(`{"00080016":{"vr":"UI","Value":["1.2.4"]}}`))
	if good[0] != mdDict {
		t.Fatalf("kind %d, want dictionary", good[0])
	}
	dict := func() (*seriesDict, error) { return d, nil }
	for i := range good {
		if _, err := appendMetadata(nil, good[:i], dict); !errors.Is(err, errCorrupt) {
			t.Errorf("truncated to %d bytes: err = %v, want errCorrupt", i, err)
		}
	}
	for _, huge := range [][]byte{{mdJSON, 0xff, 0xff, 0xff, 0xff, 0x0f, 0}, {mdDict, 0xff, 0xff, 0xff, 0xff, 0x0f, 0}} {
		if _, err := appendMetadata(nil, huge, dict); !errors.Is(err, errCorrupt) {
			t.Errorf("metadata saying it decodes to 4 GiB: err = %v, want errCorrupt", err)
		}
	}
	if _, err := decodeSeriesDict([]byte{recordVersion, 0xff, 0xff, 0xff, 0xff, 0x0f, 0}); !errors.Is(err, errCorrupt) {
		t.Errorf("series dictionary saying it decodes to 4 GiB: err = %v, want errCorrupt", err)
	}
	if _, err := appendMetadata(nil, []byte{7, 1, 2}, dict); !errors.Is(err, errCorrupt) {
		t.Errorf("unknown kind: err = %v", err)
	}
	for i := range d.stored {
		if _, err := decodeSeriesDict(d.stored[:i]); !errors.Is(err, errCorrupt) {
			t.Errorf("dictionary truncated to %d bytes: err = %v, want errCorrupt", i, err)
		}
	}
}

// TestObjectKeyEncoding: keys containing the object's hex SHA-256 are
// stored without it and decode to the same key.
func TestObjectKeyEncoding(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	x := hex.EncodeToString(sum[:])
	for _, key := range []string{"dicom/" + x[:2] + "/" + x[2:4] + "/" + x + ".dcm", x, "obj/" + x, "other/key", ""} {
		var e enc
		e.objectKey(key, sum)
		if strings.Contains(key, x) && len(e.buf) > len(key)-60 {
			t.Errorf("%q: %d bytes stored, want the hash left out", key, len(e.buf))
		}
		d := dec{b: e.buf}
		if got := d.objectKey(sum); got != key || d.err != nil || len(d.b) != 0 {
			t.Errorf("objectKey(%q) round trip = %q, %v", key, got, d.err)
		}
	}
	bad := dec{b: []byte{50, 1, 'a'}} // position beyond the rest
	if bad.objectKey(sum); bad.err == nil {
		t.Error("bad position accepted")
	}
}

// TestOpenOldSchema: a file of schema 1 is refused with ErrSchema, and the
// message says how to rebuild it; a schema 2 file opens and is marked
// schema 3, since records written from then on are packed
// (TestSchema2File reads one).
func TestOpenOldSchema(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		schema string
		ok     bool
	}{{"1", false}, {"2", true}} {
		path := filepath.Join(t.TempDir(), "ix.db")
		ix, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := ix.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put(keySchema, []byte(c.schema)) }); err != nil {
			t.Fatal(err)
		}
		if err := ix.Close(); err != nil {
			t.Fatal(err)
		}
		ix, err = Open(ctx, path, Options{})
		if !c.ok {
			if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "reindex") {
				t.Fatalf("Open of a schema %s file: err = %v, want ErrSchema naming reindex", c.schema, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Open of a schema %s file: %v", c.schema, err)
		}
		err = ix.db.View(func(tx *bolt.Tx) error {
			if v := tx.Bucket(bMeta).Get(keySchema); string(v) != schemaVersion {
				t.Errorf("schema after Open: %q, want %q", v, schemaVersion)
			}
			return nil
		})
		ix.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
}
