package index

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// member is one top-level member of a DICOM JSON object: its 8-hex-digit
// key and its value.
type member struct {
	key [8]byte
	val []byte
}

// markPatientFromRecord records that the patient attributes of study come
// from a patient record (x_padt).
func markPatientFromRecord(tx *bolt.Tx, study string) error {
	return tx.Bucket(bPatAdt).Put([]byte(study), binary.AppendVarint(nil, time.Now().UnixNano()))
}

// patientOverlay returns, for a study whose patient attributes come from
// a patient record, the overlay of those attributes (group 0010 of the
// study record); nil for other studies.
func patientOverlay(tx *bolt.Tx, study string) (*PatientOverlay, error) {
	if tx.Bucket(bPatAdt).Get([]byte(study)) == nil {
		return nil, nil
	}
	v := tx.Bucket(bStudies).Get([]byte(study))
	if v == nil {
		return nil, nil
	}
	st, err := decodeStudy(v, false)
	if err != nil {
		return nil, fmt.Errorf("study record: %w", err)
	}
	list, err := st.Attrs.list(nil)
	if err != nil {
		return nil, fmt.Errorf("study record: %w", err)
	}
	return NewPatientOverlay(decodeAttrList(list)), nil
}

// PatientVersion returns the time of the last patient record change of a
// study's patient attributes (zero when they are the objects' own), for
// the validators of metadata answers.
func (ix *Index) PatientVersion(ctx context.Context, study string) (time.Time, error) {
	var t time.Time
	err := ix.view(ctx, "patient version", func(tx *bolt.Tx) error {
		if v := tx.Bucket(bPatAdt).Get([]byte(study)); v != nil {
			if n, k := binary.Varint(v); k > 0 {
				t = time.Unix(0, n)
			}
		}
		return nil
	})
	return t, err
}

// overlayMembers appends to dst the DICOM JSON object obj with the members
// of over (sorted by key) in place of its own of the same keys, or added
// in key order. obj's top-level keys must be in ascending order, as the
// encoder writes them; an object it cannot read is appended unchanged.
func overlayMembers(dst, obj []byte, over []member) []byte {
	if len(over) == 0 {
		return append(dst, obj...)
	}
	start := len(dst)
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return append(dst, obj...)
	}
	dst = append(dst, '{')
	first := true
	emit := func(key []byte, val []byte) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, key...)
		dst = append(dst, '"', ':')
		dst = append(dst, val...)
	}
	i = skipSpace(obj, i+1)
	k := 0
	for i < len(obj) && obj[i] != '}' {
		if obj[i] == ',' {
			i = skipSpace(obj, i+1)
			continue
		}
		ks, ke, ok := scanString(obj, i)
		if !ok {
			return append(dst[:start], obj...)
		}
		key := obj[ks+1 : ke-1]
		j := skipSpace(obj, ke)
		if j >= len(obj) || obj[j] != ':' {
			return append(dst[:start], obj...)
		}
		vs := skipSpace(obj, j+1)
		ve, ok := skipValue(obj, vs)
		if !ok {
			return append(dst[:start], obj...)
		}
		for k < len(over) && string(over[k].key[:]) < string(key) {
			emit(over[k].key[:], over[k].val)
			k++
		}
		if k < len(over) && string(over[k].key[:]) == string(key) {
			emit(key, over[k].val)
			k++
		} else {
			emit(key, obj[vs:ve])
		}
		i = skipSpace(obj, ve)
	}
	if i >= len(obj) {
		return append(dst[:start], obj...)
	}
	for ; k < len(over); k++ {
		emit(over[k].key[:], over[k].val)
	}
	return append(dst, '}')
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// scanString returns the bounds of the JSON string at i (quotes
// included).
func scanString(b []byte, i int) (int, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return i, j + 1, true
		}
	}
	return 0, 0, false
}

// skipValue returns the end of the JSON value at i.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		_, e, ok := scanString(b, i)
		return e, ok
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				_, e, ok := scanString(b, j)
				if !ok {
					return 0, false
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' {
		j++
	}
	return j, j > i
}

// PatientAttrs returns the patient attributes (group 0010) a patient
// record gives a study (HL7 ADT), in tag order; nil when its patient
// attributes are its objects' own.
func (ix *Index) PatientAttrs(ctx context.Context, study string) ([]Attr, error) {
	var out []Attr
	err := ix.view(ctx, "patient attributes", func(tx *bolt.Tx) error {
		if tx.Bucket(bPatAdt).Get([]byte(study)) == nil {
			return nil
		}
		v := tx.Bucket(bStudies).Get([]byte(study))
		if v == nil {
			return nil
		}
		st, err := decodeStudy(v, false)
		if err != nil {
			return fmt.Errorf("study record: %w", err)
		}
		list, err := st.Attrs.list(nil)
		if err != nil {
			return fmt.Errorf("study record: %w", err)
		}
		out = PatientGroup(decodeAttrList(list))
		return nil
	})
	return out, err
}
