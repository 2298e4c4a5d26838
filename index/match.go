package index

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Attribute matching (PS3.4 C.2.2.2) on values as stored in records.

// cleanValue trims a value the way its VR makes padding insignificant:
// leading and trailing spaces for the short string, date/time and number
// VRs, trailing spaces for the text VRs, trailing NULs and spaces for UIDs.
func cleanValue(vr, s string) string {
	switch vr {
	case "UI":
		return strings.TrimRight(strings.TrimLeft(s, " "), "\x00 ")
	case "CS", "SH", "LO", "AE", "AS", "DA", "TM", "DT", "IS", "DS":
		return strings.Trim(s, " ")
	case "ST", "LT", "UT", "UC", "UR", "PN":
		return strings.TrimRight(s, " ")
	}
	return s
}

// normPN normalises one person name component group for matching:
// decomposed, accents removed (see isDiacritic), recomposed, upper-case, spaces around
// components trimmed, trailing empty components removed. '*' and '?' pass
// through, so patterns normalise the same way.
func normPN(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	if ascii {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			b.WriteByte(c)
		}
	} else {
		var stripped strings.Builder
		stripped.Grow(len(s))
		for _, r := range norm.NFD.String(s) {
			if !isDiacritic(r) {
				stripped.WriteRune(r)
			}
		}
		for _, r := range norm.NFC.String(stripped.String()) {
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	u := b.String()
	if !strings.ContainsRune(u, '^') {
		return strings.Trim(u, " ")
	}
	comps := strings.Split(u, "^")
	for i := range comps {
		comps[i] = strings.Trim(comps[i], " ")
	}
	for len(comps) > 0 && comps[len(comps)-1] == "" {
		comps = comps[:len(comps)-1]
	}
	return strings.Join(comps, "^")
}

// isDiacritic reports whether r is a combining accent that matching
// ignores: the combining diacritical mark blocks used by Latin, Greek and
// Cyrillic. Other combining marks (kana voicing marks, Indic vowel signs)
// change the letter and are kept.
func isDiacritic(r rune) bool {
	return unicode.Is(unicode.Mn, r) &&
		(r >= 0x0300 && r <= 0x036F || r >= 0x1AB0 && r <= 0x1AFF ||
			r >= 0x1DC0 && r <= 0x1DFF || r >= 0x20D0 && r <= 0x20FF || r >= 0xFE20 && r <= 0xFE2F)
}

// pnGroups splits a PN value into its normalised Alphabetic, Ideographic
// and Phonetic groups (empty groups kept as "").
func pnGroups(v string) []string {
	gs := strings.SplitN(v, "=", 3)
	for i := range gs {
		gs[i] = normPN(gs[i])
	}
	return gs
}

// nameComponents splits a normalised name at '^' and spaces.
func nameComponents(n string) []string {
	return strings.FieldsFunc(n, func(r rune) bool { return r == '^' || r == ' ' || r == '=' })
}

// glob reports whether s matches the pattern p, where '*' matches any run
// of characters and '?' exactly one character.
func glob(p, s string) bool {
	px, sx := 0, 0
	starPx, starSx := -1, 0
	for px < len(p) || sx < len(s) {
		if px < len(p) {
			switch c := p[px]; c {
			case '*':
				starPx, starSx = px, sx
				px++
				continue
			case '?':
				if sx < len(s) {
					_, n := utf8.DecodeRuneInString(s[sx:])
					px++
					sx += n
					continue
				}
			default:
				if sx < len(s) {
					pr, pn := utf8.DecodeRuneInString(p[px:])
					sr, sn := utf8.DecodeRuneInString(s[sx:])
					if pr == sr {
						px += pn
						sx += sn
						continue
					}
				}
			}
		}
		if starPx >= 0 && starSx < len(s) {
			_, n := utf8.DecodeRuneInString(s[starSx:])
			starSx += n
			px, sx = starPx+1, starSx
			continue
		}
		return false
	}
	return true
}

// hasWildcard reports whether s contains '*' or '?'.
func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?") }

// onlyStars reports whether a pattern is universal ("*", "**", ...).
func onlyStars(p string) bool { return p != "" && strings.Trim(p, "*") == "" }

// literalPrefix returns the prefix of a pattern whose only wildcards are
// trailing '*'s.
func literalPrefix(p string) (string, bool) {
	pre := strings.TrimRight(p, "*")
	if hasWildcard(pre) || len(pre) == len(p) {
		return "", false
	}
	return pre, true
}

// normDA normalises a date to YYYYMMDD (the ACR-NEMA form YYYY.MM.DD is
// accepted).
func normDA(s string) (string, bool) {
	s = strings.Trim(s, " ")
	if len(s) == 10 && s[4] == '.' && s[7] == '.' {
		s = s[:4] + s[5:7] + s[8:]
	}
	if len(s) != 8 || !allDigits(s) {
		return "", false
	}
	return s, true
}

// normTM normalises a time to HHMMSS.ffffff; missing parts are filled with
// their minimum, or with their maximum when high is set (for the upper
// bound of a range). "HH:MM:SS" is accepted.
func normTM(s string, high bool) (string, bool) {
	s = strings.ReplaceAll(strings.Trim(s, " "), ":", "")
	whole, frac, hasFrac := strings.Cut(s, ".")
	if !allDigits(whole) || !allDigits(frac) || len(frac) > 6 || (hasFrac && len(whole) != 6) {
		return "", false
	}
	switch len(whole) {
	case 2, 4, 6:
	default:
		return "", false
	}
	fill, fillFrac := "0000", "000000"
	if high {
		fill, fillFrac = "5959", "999999"
	}
	return whole + fill[len(whole)-2:] + "." + frac + fillFrac[len(frac):], true
}

// dtMin and dtMax complete a partial date-time.
const (
	dtMin = "00000101000000.000000"
	dtMax = "99991231235959.999999"
)

// normDT normalises a date-time to YYYYMMDDHHMMSS.ffffff, dropping any
// timezone offset; missing parts take their minimum (maximum when high).
func normDT(s string, high bool) (string, bool) {
	s = strings.Trim(s, " ")
	if i := strings.LastIndexAny(s, "+-"); i > 0 {
		s = s[:i]
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	if len(whole) < 4 || len(whole) > 14 || len(whole)%2 != 0 || !allDigits(whole) ||
		!allDigits(frac) || len(frac) > 6 || (hasFrac && len(whole) != 14) {
		return "", false
	}
	t := dtMin
	if high {
		t = dtMax
	}
	if !hasFrac {
		return whole + t[len(whole):], true
	}
	return whole + "." + frac + t[15+len(frac):], true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// matcher is a compiled Filter.
type matcher struct {
	tag  uint32
	vr   string
	kind MatchKind
	// universal filters match everything, even a missing attribute.
	universal bool
	// never is set when the filter cannot match (an invalid bound).
	never bool
	// vals are the cleaned (PN: normalised) single values, list items or
	// the pattern.
	vals []string
	// pn holds the normalised groups of a single PN key with '='.
	pnGroups []string
	// fuzzy holds the key's name components for fuzzy PN matching.
	fuzzy     []string
	low, high string
}

// compile prepares a filter for matching.
func compile(f Filter, fuzzy bool) matcher {
	m := matcher{tag: f.Tag, vr: f.VR, kind: f.Kind}
	switch f.Kind {
	case MatchSingle, MatchWildcard, MatchList:
		for _, v := range f.Values {
			if m.vr == "PN" {
				if f.Kind == MatchSingle && strings.Contains(v, "=") {
					m.pnGroups = pnGroups(v)
				}
				v = normPN(v)
			} else {
				v = cleanValue(m.vr, v)
			}
			if v == "" && (m.vr != "PN" || m.pnGroups == nil) {
				continue
			}
			m.vals = append(m.vals, v)
			if f.Kind != MatchList {
				break
			}
		}
		if len(m.vals) == 0 || (f.Kind == MatchWildcard && onlyStars(m.vals[0])) {
			m.universal = true
		}
		if f.Kind == MatchWildcard && !m.universal && !hasWildcard(m.vals[0]) {
			m.kind = MatchSingle
		}
		if fuzzy && m.vr == "PN" && m.kind == MatchSingle && !m.universal {
			m.fuzzy = nameComponents(m.vals[0])
			if len(m.fuzzy) == 0 {
				m.universal = true
			}
		}
	case MatchRange:
		if f.Low == "" && f.High == "" {
			m.universal = true
			break
		}
		var ok bool
		if f.Low != "" {
			m.low, ok = normBound(m.vr, f.Low, false)
			m.never = m.never || !ok
		}
		if f.High != "" {
			m.high, ok = normBound(m.vr, f.High, true)
			m.never = m.never || !ok
		}
	default:
		m.never = true
	}
	return m
}

func normBound(vr, s string, high bool) (string, bool) {
	switch vr {
	case "DA":
		return normDA(s)
	case "TM":
		return normTM(s, high)
	case "DT":
		return normDT(s, high)
	}
	return cleanValue(vr, s), true
}

// matchValue reports whether one stored value matches.
func (m *matcher) matchValue(raw []byte) bool {
	if m.vr == "PN" {
		return m.matchPN(string(raw))
	}
	v := cleanValue(m.vr, string(raw))
	switch m.kind {
	case MatchSingle:
		return equalValue(m.vr, m.vals[0], v)
	case MatchList:
		for _, want := range m.vals {
			if equalValue(m.vr, want, v) {
				return true
			}
		}
		return false
	case MatchWildcard:
		return glob(m.vals[0], v)
	case MatchRange:
		switch m.vr {
		case "DA", "TM", "DT":
			var ok bool
			if v, ok = normBound(m.vr, v, false); !ok {
				return false
			}
		}
		return (m.low == "" || v >= m.low) && (m.high == "" || v <= m.high)
	}
	return false
}

// matchPN matches a whole PN value (groups separated by '=').
func (m *matcher) matchPN(v string) bool {
	groups := pnGroups(v)
	switch {
	case m.kind == MatchRange:
		return (m.low == "" || v >= m.low) && (m.high == "" || v <= m.high)
	case m.fuzzy != nil:
		return fuzzyMatch(m.fuzzy, groups)
	case m.pnGroups != nil:
		for i, want := range m.pnGroups {
			if want != "" && (i >= len(groups) || groups[i] != want) {
				return false
			}
		}
		return true
	}
	for _, g := range groups {
		if g == "" {
			continue
		}
		switch m.kind {
		case MatchWildcard:
			if glob(m.vals[0], g) {
				return true
			}
		default:
			for _, want := range m.vals {
				if g == want {
					return true
				}
			}
		}
	}
	return false
}

// fuzzyMatch reports whether every key component is a prefix of some
// component of some group.
func fuzzyMatch(keys, groups []string) bool {
	var comps []string
	for _, g := range groups {
		comps = append(comps, nameComponents(g)...)
	}
	for _, k := range keys {
		found := false
		for _, c := range comps {
			if strings.HasPrefix(c, k) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// equalValue compares single values by VR.
func equalValue(vr, want, v string) bool {
	switch vr {
	case "DA", "TM", "DT":
		a, ok1 := normBound(vr, want, false)
		b, ok2 := normBound(vr, v, false)
		if ok1 && ok2 {
			return a == b
		}
	case "IS", "DS":
		a, err1 := strconv.ParseFloat(want, 64)
		b, err2 := strconv.ParseFloat(v, 64)
		if err1 == nil && err2 == nil {
			return a == b
		}
	}
	return want == v
}

// match applies the matcher to an attribute; found is false when the
// entity does not have the attribute.
func (m *matcher) match(a rawAttr, found bool) bool {
	if m.universal {
		return true
	}
	if m.never || !found {
		return false
	}
	return a.each(m.matchValue)
}
