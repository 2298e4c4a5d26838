package query

import "strings"

// Validation and ordering of DA, TM and DT query values (PS3.5 §6.2).

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// num parses a short string of digits already checked by isDigits.
func num(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// validDA reports whether s is a DA value YYYYMMDD naming a real day.
func validDA(s string) bool {
	if len(s) != 8 || !isDigits(s) {
		return false
	}
	y, m, d := num(s[:4]), num(s[4:6]), num(s[6:])
	return m >= 1 && m <= 12 && d >= 1 && d <= daysIn(y, m)
}

// validTM reports whether s is a TM value HH[MM[SS[.F{1,6}]]].
func validTM(s string) bool {
	hms, frac, hasFrac := strings.Cut(s, ".")
	if hasFrac && (len(hms) != 6 || len(frac) < 1 || len(frac) > 6 || !isDigits(frac)) {
		return false
	}
	if (len(hms) != 2 && len(hms) != 4 && len(hms) != 6) || !isDigits(hms) {
		return false
	}
	if num(hms[:2]) > 23 {
		return false
	}
	if len(hms) >= 4 && num(hms[2:4]) > 59 {
		return false
	}
	// 60 is a leap second (PS3.5 TM).
	return len(hms) < 6 || num(hms[4:6]) <= 60
}

// splitDTOffset splits a DT value into the date-time and the "&ZZXX" UTC
// offset (empty when absent). The offset is the last 5 characters when they
// are a sign and 4 digits after at least a year.
func splitDTOffset(s string) (dt, off string) {
	if n := len(s); n >= 9 && (s[n-5] == '+' || s[n-5] == '-') && isDigits(s[n-4:]) {
		return s[:n-5], s[n-5:]
	}
	return s, ""
}

// validDT reports whether s is a DT value
// YYYY[MM[DD[HH[MM[SS[.F{1,6}]]]]]][&ZZXX].
func validDT(s string) bool {
	dt, off := splitDTOffset(s)
	if off != "" {
		h, m := num(off[1:3]), num(off[3:])
		if m > 59 || (off[0] == '-' && h*60+m > 12*60) || (off[0] == '+' && h*60+m > 14*60) {
			return false
		}
	}
	main, frac, hasFrac := strings.Cut(dt, ".")
	if hasFrac && (len(main) != 14 || len(frac) < 1 || len(frac) > 6 || !isDigits(frac)) {
		return false
	}
	switch len(main) {
	case 4, 6, 8, 10, 12, 14:
	default:
		return false
	}
	if !isDigits(main) {
		return false
	}
	if len(main) >= 6 {
		m := num(main[4:6])
		if m < 1 || m > 12 {
			return false
		}
		if len(main) >= 8 {
			d := num(main[6:8])
			if d < 1 || d > daysIn(num(main[:4]), m) {
				return false
			}
		}
	}
	if len(main) >= 10 && num(main[8:10]) > 23 {
		return false
	}
	if len(main) >= 12 && num(main[10:12]) > 59 {
		return false
	}
	return len(main) < 14 || num(main[12:14]) <= 60
}

// padTemporal extends a validated partial TM or DT value (without UTC
// offset) to its full precision, with the earliest (high=false) or latest
// (high=true) instant it covers, so that bounds compare as strings.
func padTemporal(vr, s string, high bool) string {
	var full string
	if vr == "TM" {
		full = "000000.000000"
		if high {
			full = "235959.999999"
		}
	} else {
		full = "00000101000000.000000"
		if high {
			full = "99991231235959.999999"
		}
	}
	main, frac, hasFrac := strings.Cut(s, ".")
	out := main + full[len(main):]
	if hasFrac {
		cut := len(main) + 1
		out = out[:cut] + frac + out[cut+len(frac):]
	}
	return out
}

// reversed reports whether the range low-high of a DA, TM or DT attribute
// is empty because low is after high. Bounds with UTC offsets are not
// compared (the index resolves them).
func reversed(vr, low, high string) bool {
	if low == "" || high == "" {
		return false
	}
	switch vr {
	case "DA":
		return low > high
	case "DT":
		if _, off := splitDTOffset(low); off != "" {
			return false
		}
		if _, off := splitDTOffset(high); off != "" {
			return false
		}
	}
	return padTemporal(vr, low, false) > padTemporal(vr, high, true)
}
