package part10

import "strings"

// TrimUID strips the trailing NUL and space padding of a UID value.
func TrimUID(s string) string {
	return strings.TrimRight(strings.TrimLeft(s, " "), "\x00 ")
}

// ValidUID reports whether s is an acceptable UID: 1 to 64 characters of
// digits and dots, no empty component. Components with leading zeros break
// PS3.5 §9.1 but real modalities send them, so they are accepted.
func ValidUID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	prevDot := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if prevDot {
				return false
			}
			prevDot = true
		case c >= '0' && c <= '9':
			prevDot = false
		default:
			return false
		}
	}
	return !prevDot
}
