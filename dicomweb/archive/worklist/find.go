package worklist

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/minipacs/minipacs/index"
)

// Filter selects worklist items: every non-empty field must match. String
// fields may hold the wildcards '*' and '?'; "" matches anything.
type Filter struct {
	PatientID, IssuerOfPatientID  string
	PatientName                   string // case-insensitive
	AccessionNumber               string
	RequestedProcedureID          string
	StudyInstanceUID              string
	ReferringPhysicianName        string // case-insensitive
	StepID                        string
	Modality                      string
	StationAETitle                string
	PerformingPhysicianName       string // case-insensitive
	StartDateLow, StartDateHigh   string // DA bounds, inclusive ("" open)
	StartTimeLow, StartTimeHigh   string // TM bounds, on the start date's time
	Statuses                      []string
	RequestedProcedureDescription string
	StepDescription               string
}

// DefaultStatuses are the statuses a worklist query sees when it names
// none: what a modality may still perform.
var DefaultStatuses = []string{Scheduled, InProgress}

// ParseDateRange reads a DA matching value: "a-b", "-b", "a-" or one date
// ("" for none).
func ParseDateRange(v string) (low, high string, err error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", "", nil
	}
	low, high, isRange := strings.Cut(v, "-")
	if !isRange {
		high = low
	}
	for _, d := range []string{low, high} {
		if d != "" && !validDA(d) {
			return "", "", fmt.Errorf("%w: date %q", ErrInvalid, d)
		}
	}
	if low != "" && high != "" && low > high {
		return "", "", fmt.Errorf("%w: reversed date range", ErrInvalid)
	}
	return low, high, nil
}

// Find calls fn for each order that matches f, in key order.
func (s *Service) Find(ctx context.Context, f Filter, fn func(*Order) error) error {
	statuses := f.Statuses
	if len(statuses) == 0 {
		statuses = DefaultStatuses
	}
	return s.idx.ForEachRecord(ctx, index.RecordOrder, "", func(key string, v []byte) error {
		var o Order
		if err := json.Unmarshal(v, &o); err != nil {
			return fmt.Errorf("worklist: stored order %q: %w", key, err)
		}
		if !f.matches(&o, statuses) {
			return nil
		}
		return fn(&o)
	})
}

func (f *Filter) matches(o *Order, statuses []string) bool {
	ok := false
	for _, st := range statuses {
		if st == o.Status {
			ok = true
		}
	}
	if !ok {
		return false
	}
	for _, m := range []struct {
		pattern, value string
		fold           bool
	}{
		{f.PatientID, o.PatientID, false},
		{f.IssuerOfPatientID, o.IssuerOfPatientID, false},
		{f.PatientName, o.PatientName, true},
		{f.AccessionNumber, o.AccessionNumber, false},
		{f.RequestedProcedureID, o.RequestedProcedureID, false},
		{f.StudyInstanceUID, o.StudyInstanceUID, false},
		{f.ReferringPhysicianName, o.ReferringPhysicianName, true},
		{f.StepID, o.StepID, false},
		{f.Modality, o.Modality, false},
		{f.StationAETitle, o.StationAETitle, false},
		{f.PerformingPhysicianName, o.PerformingPhysicianName, true},
		{f.RequestedProcedureDescription, o.RequestedProcedureDescription, true},
		{f.StepDescription, o.StepDescription, true},
	} {
		if m.pattern == "" || onlyStars(m.pattern) {
			continue
		}
		p, v := m.pattern, m.value
		if m.fold {
			p, v = strings.ToUpper(p), strings.ToUpper(v)
		}
		if !Wildcard(p, v) {
			return false
		}
	}
	if f.StartDateLow != "" && (o.StartDate == "" || o.StartDate < f.StartDateLow) {
		return false
	}
	if f.StartDateHigh != "" && (o.StartDate == "" || o.StartDate > f.StartDateHigh) {
		return false
	}
	t := normTime(o.StartTime)
	if f.StartTimeLow != "" && (o.StartTime == "" || t < normTime(f.StartTimeLow)) {
		return false
	}
	if f.StartTimeHigh != "" && (o.StartTime == "" || t > normTime(f.StartTimeHigh)) {
		return false
	}
	return true
}

// normTime pads a TM value to HHMMSS for comparison.
func normTime(t string) string {
	t, _, _ = strings.Cut(t, ".")
	return (t + "000000")[:6]
}

func onlyStars(s string) bool { return strings.Trim(s, "*") == "" }

// Wildcard reports whether v matches pattern, where '*' matches any run of
// characters (also none) and '?' any one character (PS3.4 C.2.2.2.4).
func Wildcard(pattern, v string) bool {
	p, s := []rune(pattern), []rune(v)
	star, mark := -1, 0
	i, j := 0, 0
	for j < len(s) {
		switch {
		case i < len(p) && (p[i] == '?' || p[i] == s[j]):
			i++
			j++
		case i < len(p) && p[i] == '*':
			star, mark = i, j
			i++
		case star >= 0:
			i = star + 1
			mark++
			j = mark
		default:
			return false
		}
	}
	for i < len(p) && p[i] == '*' {
		i++
	}
	return i == len(p)
}
