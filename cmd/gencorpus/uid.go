package main

import (
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"math/big"
	"time"
)

// uid derives a deterministic 2.25 UID (PS3.5 §B.2) from the seed and a path
// of names and numbers: the bytes of a SHA-1 name-based (version 5) UUID
// written as one decimal integer.
func uid(seed uint64, parts ...any) string {
	h := sha1.New()
	fmt.Fprintf(h, "minipacs-gencorpus/%d", seed)
	for _, p := range parts {
		fmt.Fprintf(h, "/%v", p)
	}
	sum := h.Sum(nil)
	var u [16]byte
	copy(u[:], sum)
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return "2.25." + new(big.Int).SetBytes(u[:]).String()
}

// hash64 is a deterministic 64-bit value for the seed and a path, used to
// pick names, dates and other varied attributes.
func hash64(seed uint64, parts ...any) uint64 {
	h := sha1.New()
	fmt.Fprintf(h, "minipacs-gencorpus-h/%d", seed)
	for _, p := range parts {
		fmt.Fprintf(h, "/%v", p)
	}
	return binary.LittleEndian.Uint64(h.Sum(nil))
}

// corpusStart is the first study date; studies spread over two years from it.
var corpusStart = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)

const corpusDays = 731 // 2023-01-01 .. 2024-12-31

// studyDateTime picks a study date in the two-year window and a time within
// working hours (07:00-19:00).
func studyDateTime(h uint64) (date, tm string) {
	d := corpusStart.AddDate(0, 0, int(h%corpusDays))
	secs := 7*3600 + int((h>>16)%(12*3600))
	return d.Format("20060102"), fmt.Sprintf("%02d%02d%02d", secs/3600, secs/60%60, secs%60)
}

// addSeconds returns hhmmss plus s seconds, clamped to the same day.
func addSeconds(tm string, s int) string {
	t, err := time.Parse("150405", tm)
	if err != nil {
		return tm
	}
	t2 := t.Add(time.Duration(s) * time.Second)
	if t2.Day() != t.Day() {
		return "235959"
	}
	return t2.Format("150405")
}
