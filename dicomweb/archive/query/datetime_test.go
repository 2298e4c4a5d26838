package query

import (
	"strings"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

func TestTemporalValidation(t *testing.T) {
	tests := []struct {
		vr, v string
		ok    bool
	}{
		{"DA", "20240229", true},
		{"DA", "20230229", false},
		{"DA", "21000229", false},
		{"DA", "20000229", true},
		{"DA", "20241231", true},
		{"DA", "20241232", false},
		{"DA", "20240001", false},
		{"DA", "2024-01-01", false},
		{"DA", "2024010", false},
		{"TM", "23", true},
		{"TM", "24", false},
		{"TM", "2359", true},
		{"TM", "2360", false},
		{"TM", "235960", true},
		{"TM", "235961", false},
		{"TM", "120000.1", true},
		{"TM", "120000.123456", true},
		{"TM", "120000.1234567", false},
		{"TM", "120000.", false},
		{"TM", "1200.5", false},
		{"TM", "123", false},
		{"DT", "2024", true},
		{"DT", "202402", true},
		{"DT", "20240230", false},
		{"DT", "2024022912", true},
		{"DT", "20240229123059.5", true},
		{"DT", "20240229123059.5+0100", true},
		{"DT", "2024-0500", true},
		{"DT", "20240101+1500", false},
		{"DT", "20240101-1300", false},
		{"DT", "20240101+0160", false},
		{"DT", "202401011", false},
		{"DT", "2024.5", false},
	}
	for _, tt := range tests {
		if got := validTemporal(tt.vr, tt.v); got != tt.ok {
			t.Errorf("valid %s %q = %v, want %v", tt.vr, tt.v, got, tt.ok)
		}
	}
}

func TestReversed(t *testing.T) {
	tests := []struct {
		vr, lo, hi string
		rev        bool
	}{
		{"DA", "20240102", "20240101", true},
		{"DA", "20240101", "20240101", false},
		{"DA", "", "20240101", false},
		{"TM", "10", "1030", false},
		{"TM", "1030", "10", false}, // 10 covers 10:00-10:59
		{"TM", "11", "1030", true},
		{"TM", "120000.5", "120000.4", true},
		{"TM", "120000.4", "120000", false},
		{"DT", "2024", "2024", false},
		{"DT", "2025", "2024", true},
		{"DT", "20240615", "2024", false},
		{"DT", "2025+0100", "2024", false}, // offsets are left to the index
	}
	for _, tt := range tests {
		if got := reversed(tt.vr, tt.lo, tt.hi); got != tt.rev {
			t.Errorf("reversed(%s %q-%q) = %v, want %v", tt.vr, tt.lo, tt.hi, got, tt.rev)
		}
	}
}

func TestValidUID(t *testing.T) {
	tests := []struct {
		s  string
		ok bool
	}{
		{"1.2.3", true},
		{"1", true},
		{"1.02.3", true},
		{strings.Repeat("1", 64), true},
		{strings.Repeat("1", 65), false},
		{"", false},
		{".1", false},
		{"1.", false},
		{"1..2", false},
		{"1.2a", false},
		{"1.2 ", false},
	}
	for _, tt := range tests {
		if got := part10.ValidUID(tt.s); got != tt.ok {
			t.Errorf("part10.ValidUID(%q) = %v, want %v", tt.s, got, tt.ok)
		}
	}
}
