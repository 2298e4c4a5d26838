package query

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/index"
)

// maxListValues bounds the values of one key (UID lists, value lists).
const maxListValues = 1000

// maxValueLen bounds one decoded query value in bytes; maxKeyValueLen
// one value of a data set key, which may be a long UID list (C-FIND and
// C-MOVE identifiers list up to maxListValues instance UIDs).
const (
	maxValueLen    = 4096
	maxKeyValueLen = maxListValues * 65
)

// vrClass groups VRs by how their query values are matched.
type vrClass int

const (
	classString   vrClass = iota // wildcard, single, '\' list
	classText                    // LT, ST, UT, UR: wildcard, single; '\' literal
	classUID                     // single, ',' or '\' list
	classTemporal                // DA, TM, DT: single, range, '\' list
	classNumber                  // single, '\' list
	classNone                    // SQ, binary, unknown: return key only
)

func classOf(vr string) vrClass {
	switch vr {
	case "AE", "CS", "LO", "PN", "SH", "UC":
		return classString
	case "LT", "ST", "UT", "UR":
		return classText
	case "UI":
		return classUID
	case "DA", "TM", "DT":
		return classTemporal
	case "IS", "DS", "US", "SS", "UL", "SL", "FL", "FD", "SV", "UV", "AT", "AS":
		return classNumber
	}
	return classNone
}

// validNumber checks one value of a numeric, AT or AS attribute.
func validNumber(vr, s string) bool {
	var err error
	switch vr {
	case "IS":
		_, err = strconv.ParseInt(s, 10, 32)
	case "DS", "FL", "FD":
		// Decimal notation only: no hex floats, NaN, Inf or underscores.
		if strings.Trim(s, "0123456789+-.eE") != "" {
			return false
		}
		_, err = strconv.ParseFloat(s, 64)
	case "US":
		_, err = strconv.ParseUint(s, 10, 16)
	case "UL":
		_, err = strconv.ParseUint(s, 10, 32)
	case "UV":
		_, err = strconv.ParseUint(s, 10, 64)
	case "SS":
		_, err = strconv.ParseInt(s, 10, 16)
	case "SL":
		_, err = strconv.ParseInt(s, 10, 32)
	case "SV":
		_, err = strconv.ParseInt(s, 10, 64)
	case "AT":
		if len(s) != 8 {
			return false
		}
		_, err = strconv.ParseUint(s, 16, 32)
	case "AS":
		return len(s) == 4 && isDigits(s[:3]) && strings.IndexByte("DWMY", s[3]) >= 0
	default:
		return false
	}
	return err == nil && !strings.ContainsRune(s, '_')
}

// checkText refuses values that cannot be a decoded DICOM string: invalid
// UTF-8 and control characters (ESC included: values arrive as UTF-8, never
// as ISO 2022 escape sequences).
func checkText(name, v string, max int) error {
	if len(v) > max {
		return errorf("value of %s is too long", name)
	}
	if !utf8.ValidString(v) {
		return errorf("value of %s is not valid UTF-8", name)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7F {
			return errorf("value of %s contains a control character", name)
		}
	}
	return nil
}

func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?") }

// onlyStars reports whether s is non-empty and made of '*' only: universal
// matching (PS3.4 C.2.2.2.4).
func onlyStars(s string) bool {
	return s != "" && strings.Trim(s, "*") == ""
}

// splitList splits v on any of seps, dropping empty items. It fails when
// there are more than maxListValues items.
func splitList(name, v, seps string) ([]string, error) {
	items := strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(seps, r) })
	if len(items) > maxListValues {
		return nil, errorf("too many values for %s", name)
	}
	return items, nil
}

// universal reports whether every value of a key is empty (padding or
// separators only) or only '*': a key that matches everything.
func universal(values []string) bool {
	for _, v := range values {
		if strings.Trim(v, ` *\`) != "" {
			return false
		}
	}
	return true
}

// buildFilter turns one decoded query value of attribute (tag, vr) into a
// filter. It returns nil, nil for universal matching (empty value, "*").
// In the data set form only '\' separates values (the ',' of a CS or UI
// value is a character of it).
func buildFilter(tag uint32, vr, name, v string, form keyForm) (*index.Filter, error) {
	maxLen, listSeps := maxValueLen, `\,`
	if form == formDataSet {
		maxLen, listSeps = maxKeyValueLen, `\`
	}
	if err := checkText(name, v, maxLen); err != nil {
		return nil, err
	}
	if strings.TrimSpace(v) == "" { // only padding: an empty value
		return nil, nil
	}
	f := &index.Filter{Tag: tag, VR: vr, Kind: index.MatchSingle}
	switch classOf(vr) {
	case classString:
		if onlyStars(v) {
			return nil, nil
		}
		seps := `\`
		if vr == "CS" {
			seps = listSeps
		}
		if strings.ContainsAny(v, seps) {
			items, err := splitList(name, v, seps)
			if err != nil {
				return nil, err
			}
			if len(items) == 0 { // only separators: no value to match
				return nil, nil
			}
			for _, it := range items {
				if hasWildcard(it) {
					return nil, errorf("wildcards are not supported in a value list (%s)", name)
				}
			}
			return listFilter(f, items), nil
		}
		if hasWildcard(v) {
			f.Kind = index.MatchWildcard
		}
		f.Values = []string{v}
		return f, nil

	case classText:
		if onlyStars(v) {
			return nil, nil
		}
		if hasWildcard(v) {
			f.Kind = index.MatchWildcard
		}
		f.Values = []string{v}
		return f, nil

	case classUID:
		if hasWildcard(v) {
			return nil, errorf("wildcards are not allowed in UID %s", name)
		}
		items, err := splitList(name, v, listSeps)
		if err != nil {
			return nil, err
		}
		for i, it := range items {
			it = strings.TrimSpace(it)
			if !part10.ValidUID(it) {
				return nil, errorf("invalid UID in %s", name)
			}
			items[i] = it
		}
		if len(items) == 0 {
			return nil, errorf("invalid UID in %s", name)
		}
		return listFilter(f, items), nil

	case classTemporal:
		if hasWildcard(v) {
			return nil, errorf("wildcards are not allowed in %s (%s)", name, vr)
		}
		if strings.Contains(v, `\`) {
			items, err := splitList(name, v, `\`)
			if err != nil {
				return nil, err
			}
			for i, it := range items {
				it = strings.TrimSpace(it)
				if !validTemporal(vr, it) {
					return nil, errorf("invalid %s value in %s", vr, name)
				}
				items[i] = it
			}
			if len(items) == 0 {
				return nil, errorf("invalid %s value in %s", vr, name)
			}
			return listFilter(f, items), nil
		}
		return temporalFilter(f, name, strings.TrimSpace(v))

	case classNumber:
		if hasWildcard(v) {
			return nil, errorf("wildcards are not allowed in %s (%s)", name, vr)
		}
		items, err := splitList(name, v, `\`)
		if err != nil {
			return nil, err
		}
		for i, it := range items {
			it = strings.TrimSpace(it)
			if !validNumber(vr, it) {
				return nil, errorf("invalid %s value in %s", vr, name)
			}
			items[i] = it
		}
		if len(items) == 0 {
			return nil, errorf("invalid %s value in %s", vr, name)
		}
		return listFilter(f, items), nil
	}
	if vr == "" {
		return nil, errorf("matching on unknown or private attribute %s is not supported", name)
	}
	return nil, errorf("matching on %s attributes (%s) is not supported", vr, name)
}

// listFilter sets f to single value matching for one item, list matching
// for several (duplicates removed, order kept).
func listFilter(f *index.Filter, items []string) *index.Filter {
	seen := make(map[string]bool, len(items))
	out := make([]string, 0, len(items))
	for _, it := range items {
		if !seen[it] {
			seen[it] = true
			out = append(out, it)
		}
	}
	f.Values = out
	if len(out) > 1 {
		f.Kind = index.MatchList
	} else {
		f.Kind = index.MatchSingle
	}
	return f
}

func validTemporal(vr, s string) bool {
	switch vr {
	case "DA":
		return validDA(s)
	case "TM":
		return validTM(s)
	}
	return validDT(s)
}

// temporalFilter parses a DA, TM or DT value without '\': a single value
// or a range.
func temporalFilter(f *index.Filter, name, v string) (*index.Filter, error) {
	vr := f.VR
	if !strings.Contains(v, "-") || (vr == "DT" && validDT(v)) {
		if !validTemporal(vr, v) {
			return nil, errorf("invalid %s value in %s", vr, name)
		}
		f.Values = []string{v}
		return f, nil
	}
	low, high, ok := splitRange(vr, v)
	if !ok {
		return nil, errorf("invalid %s range in %s", vr, name)
	}
	if reversed(vr, low, high) {
		return nil, errorf("reversed %s range in %s", vr, name)
	}
	f.Kind = index.MatchRange
	f.Low, f.High = low, high
	return f, nil
}

// splitRange finds the '-' that separates two valid bounds (at least one
// present). DT bounds may themselves contain '-' (a UTC offset), so every
// '-' is tried in turn.
func splitRange(vr, v string) (low, high string, ok bool) {
	for i := 0; i < len(v); i++ {
		if v[i] != '-' {
			continue
		}
		low, high = strings.TrimSpace(v[:i]), strings.TrimSpace(v[i+1:])
		if low == "" && high == "" {
			return "", "", false
		}
		if (low == "" || validTemporal(vr, low)) && (high == "" || validTemporal(vr, high)) {
			return low, high, true
		}
	}
	return "", "", false
}
