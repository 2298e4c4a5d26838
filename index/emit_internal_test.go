package index

import (
	"encoding/json"
	"testing"
)

// TestAppendValuesJSON pins the DICOM JSON of computed attributes. Their
// strings are written by jsonstr.Append, as the DICOM JSON of stored
// attributes is, so a value with control characters, U+2028 or invalid
// UTF-8 reads the same in ModalitiesInStudy as in Modality. (Before
// jsonstr, the index wrote "\n" as \u000a and invalid UTF-8 and U+2028 as
// they came: the former was not valid JSON.)
func TestAppendValuesJSON(t *testing.T) {
	tests := []struct {
		name, vr string
		vals     []string
		want     string
	}{
		{"no value", "CS", nil, `{"vr":"CS"}`},
		{"modalities", "CS", []string{"CT", "SR"}, `{"vr":"CS","Value":["CT","SR"]}`},
		{"empty value", "CS", []string{""}, `{"vr":"CS","Value":[""]}`},
		{"uids", "UI", []string{"1.2.840.10008.5.1.4.1.1.2"}, `{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.2"]}`},
		{"count", "IS", []string{"1234"}, `{"vr":"IS","Value":[1234]}`},
		{"count too long for a number", "IS", []string{"1234567890123456"}, `{"vr":"IS","Value":["1234567890123456"]}`},
		{"IS not digits", "IS", []string{"-1", ""}, `{"vr":"IS","Value":["-1",""]}`},
		{"quote and backslash", "CS", []string{`A"B\C`}, `{"vr":"CS","Value":["A\"B\\C"]}`},
		{"control characters", "CS", []string{"A\nB\tC\x01\b\x7f"}, `{"vr":"CS","Value":["A\nB\tC\u0001\u0008` + "\x7f" + `"]}`},
		{"html characters", "CS", []string{"<&>"}, `{"vr":"CS","Value":["<&>"]}`},
		{"line separators", "CS", []string{"A\u2028B\u2029"}, `{"vr":"CS","Value":["A\u2028B\u2029"]}`},
		{"invalid UTF-8", "CS", []string{"A\xffB\xe2\x80"}, `{"vr":"CS","Value":["A\ufffdB\ufffd\ufffd"]}`},
		{"non-ASCII", "CS", []string{"É中"}, `{"vr":"CS","Value":["É中"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := appendValuesJSON([]byte("x"), tt.vr, tt.vals)
			if string(got) != "x"+tt.want {
				t.Errorf("appendValuesJSON(%q, %q) = %s, want x%s", tt.vr, tt.vals, got, tt.want)
			}
			if got := valuesJSON(tt.vr, tt.vals); string(got) != tt.want {
				t.Errorf("valuesJSON(%q, %q) = %s, want %s", tt.vr, tt.vals, got, tt.want)
			}
			if !json.Valid([]byte(tt.want)) {
				t.Errorf("%s is not valid JSON", tt.want)
			}
		})
	}
}

// BenchmarkAppendValuesJSON measures the DICOM JSON of computed attributes,
// written for every study (and series) of a QIDO-RS result.
func BenchmarkAppendValuesJSON(b *testing.B) {
	mods := []string{"CT", "PR", "SR"}
	classes := []string{"1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.11.1", "1.2.840.10008.5.1.4.1.1.88.22"}
	count := []string{"1234"}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = appendValuesJSON(buf[:0], "CS", mods)
		buf = appendValuesJSON(buf[:0], "UI", classes)
		buf = appendValuesJSON(buf[:0], "IS", count)
	}
}
