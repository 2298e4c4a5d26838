package index

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	bolt "go.etcd.io/bbolt"
)

// TestBuiltinDicts pins the built-in dictionaries: stored values depend
// on their exact bytes (see packed.go).
func TestBuiltinDicts(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
		sum  string
	}{
		{"attrs.v1", attrDictBytes, "1321fdfb909300946cc54fd09882b229af73294c131f4c5a3b3e4ffb11ca9c40"},
		{"json.v1", jsonDictBytes, "4eb1e957745b6de02cd221e6aab4ed1a7a139764592bf3efafa7a32dc0de58b4"},
	} {
		sum := sha256.Sum256(c.b)
		if got := hex.EncodeToString(sum[:]); got != c.sum {
			t.Errorf("dicts/%s: SHA-256 %s, want %s: a built-in dictionary must never change", c.name, got, c.sum)
		}
		if len(c.b) < s2.MinDictSize || len(c.b) > s2.MaxDictSize {
			t.Errorf("dicts/%s: %d bytes", c.name, len(c.b))
		}
	}
}

// TestGenerateDicts writes the dictionaries from an index file given by
// MINIPACS_GEN_DICTS (see dicts/README.md); skipped without it.
func TestGenerateDicts(t *testing.T) {
	path := os.Getenv("MINIPACS_GEN_DICTS")
	if path == "" {
		t.Skip("MINIPACS_GEN_DICTS not set")
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	attrs := map[string]int{}
	members := map[string]int{}
	err = db.View(func(tx *bolt.Tx) error {
		lists := func(name string, field func(k, v []byte) (packedAttrs, error)) error {
			c := tx.Bucket([]byte(name)).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				p, err := field(k, v)
				if err != nil {
					return err
				}
				list, err := p.list(nil)
				if err != nil {
					return err
				}
				d := dec{b: list}
				for n := d.uv(); n > 0 && d.err == nil; n-- {
					start := d.b
					d.fixed(6)
					d.bytes()
					if e := start[:len(start)-len(d.b)]; d.err == nil && keepEntry(e) {
						attrs[string(e)]++
					}
				}
				if d.err != nil {
					return d.err
				}
			}
			return nil
		}
		for name, field := range map[string]func(k, v []byte) (packedAttrs, error){
			"patients":  func(_, v []byte) (packedAttrs, error) { r, err := decodePatient(v); return r.Attrs, err },
			"studies":   func(_, v []byte) (packedAttrs, error) { r, err := decodeStudy(v, false); return r.Attrs, err },
			"series":    func(_, v []byte) (packedAttrs, error) { r, err := decodeSeries(v); return r.Attrs, err },
			"instances": func(k, v []byte) (packedAttrs, error) { r, err := decodeInst(k, v); return r.attrs, err },
		} {
			if err := lists(name, field); err != nil {
				return err
			}
		}
		c := tx.Bucket(bInstances).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			r, err := decodeInst(k, v)
			if err != nil {
				return err
			}
			sk := seriesKey(r.StudyUID, r.SeriesUID)
			js, err := appendMetadata(nil, tx.Bucket(bMetadata).Get(k), func() (*seriesDict, error) {
				return decodeSeriesDict(tx.Bucket(bMDict).Get(sk))
			})
			if err != nil {
				return err
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(js, &m); err != nil {
				return err
			}
			for tag, raw := range m {
				if keepMember(raw) {
					members[`"`+tag+`":`+string(raw)+`,`]++
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, set := range map[string]map[string]int{"attrs.v1": attrs, "json.v1": members} {
		out := dictFrom(set)
		if err := os.WriteFile(filepath.Join("dicts", name), out, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("dicts/%s: %d distinct pieces, %d bytes", name, len(set), len(out))
	}
}

// dictFrom concatenates the pieces, the most frequent last (nearest to
// the data: shorter offsets), dropping the rarest beyond s2.MaxDictSize.
func dictFrom(set map[string]int) []byte {
	pieces := make([]string, 0, len(set))
	for p := range set {
		pieces = append(pieces, p)
	}
	slices.SortFunc(pieces, func(a, b string) int {
		if set[a] != set[b] {
			return set[a] - set[b]
		}
		return strings.Compare(a, b)
	})
	var out []byte
	for _, p := range pieces {
		out = append(out, p...)
	}
	if len(out) > s2.MaxDictSize {
		out = out[len(out)-s2.MaxDictSize:]
	}
	return out
}

// standardUID reports a UID of the standard's own root (SOP classes,
// transfer syntaxes, coding schemes): the same in every archive, unlike
// the UIDs of particular studies, series and instances.
func standardUID(s string) bool { return strings.HasPrefix(s, "1.2.840.10008.") }

// keepEntry keeps an attr list entry unless it names a particular object
// (a UID outside the standard's root) or is long.
func keepEntry(e []byte) bool {
	if len(e) > 256 {
		return false
	}
	if string(e[4:6]) != "UI" {
		return true
	}
	d := dec{b: e[6:]}
	body := dec{b: d.bytes()}
	for n := body.uv(); n > 0 && body.err == nil; n-- {
		if !standardUID(body.str()) {
			return false
		}
	}
	return body.err == nil
}

// keepMember keeps a DICOM JSON attribute unless it names a particular
// object, holds bulk data or is long.
func keepMember(raw []byte) bool {
	if len(raw) > 512 || bytes.Contains(raw, []byte("BulkDataURI")) || bytes.Contains(raw, []byte("InlineBinary")) {
		return false
	}
	var a struct {
		VR    string
		Value []any
	}
	if json.Unmarshal(raw, &a) != nil {
		return false
	}
	if a.VR == "UI" {
		for _, v := range a.Value {
			if s, ok := v.(string); !ok || !standardUID(s) {
				return false
			}
		}
	}
	return a.VR != "SQ" || !bytes.Contains(raw, []byte(`"UI"`))
}
