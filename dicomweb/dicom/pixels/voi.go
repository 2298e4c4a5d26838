package pixels

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// VOI LUT Functions (0028,1056).
const (
	Linear      = "LINEAR"
	LinearExact = "LINEAR_EXACT"
	Sigmoid     = "SIGMOID"
)

// Window is a VOI window: Center and Width with a VOI LUT Function.
type Window struct {
	Center, Width float64
	// Function is Linear, LinearExact or Sigmoid ("" means Linear).
	Function string
}

func (w Window) valid() bool {
	if !finite(w.Center) || !finite(w.Width) {
		return false
	}
	if w.Function == Linear || w.Function == "" {
		return w.Width >= 1
	}
	return w.Width > 0
}

// ParseWindow parses the value of the PS3.18 rendering parameter
// window=center,width,function, where function is "linear",
// "linear-exact" or "sigmoid" (case-insensitive; the VOI LUT Function
// spellings LINEAR_EXACT etc. are accepted too). The function may be
// omitted (linear).
func ParseWindow(s string) (Window, error) {
	parts := strings.Split(s, ",")
	if len(parts) < 2 || len(parts) > 3 {
		return Window{}, fmt.Errorf("pixels: window %.64q: want center,width,function", s)
	}
	c, err1 := strconv.ParseFloat(strings.TrimSpace(parts[0]), 64)
	w, err2 := strconv.ParseFloat(strings.TrimSpace(parts[1]), 64)
	if err1 != nil || err2 != nil {
		return Window{}, fmt.Errorf("pixels: window %.64q: center and width must be numbers", s)
	}
	win := Window{Center: c, Width: w, Function: Linear}
	if len(parts) == 3 {
		switch strings.ToLower(strings.TrimSpace(parts[2])) {
		case "linear", "":
		case "linear-exact", "linear_exact":
			win.Function = LinearExact
		case "sigmoid":
			win.Function = Sigmoid
		default:
			return Window{}, fmt.Errorf("pixels: window %.64q: function must be linear, linear-exact or sigmoid", s)
		}
	}
	if !win.valid() {
		return Window{}, fmt.Errorf("pixels: window %.64q: width must be at least 1 (linear) or positive", s)
	}
	return win, nil
}

// apply maps x to [0, 255] (not yet rounded) following PS3.3 C.11.2.1.2.1
// (LINEAR), C.11.2.1.3.2 (LINEAR_EXACT) and C.11.2.1.3.1 (SIGMOID).
func (w Window) apply(x float64) float64 {
	const ymax = 255.0
	c, wd := w.Center, w.Width
	switch w.Function {
	case LinearExact:
		switch {
		case x <= c-wd/2:
			return 0
		case x > c+wd/2:
			return ymax
		}
		return ((x-c)/wd + 0.5) * ymax
	case Sigmoid:
		return ymax / (1 + math.Exp(-4*(x-c)/wd))
	}
	switch {
	case x <= c-0.5-(wd-1)/2:
		return 0
	case x > c-0.5+(wd-1)/2:
		return ymax
	}
	if wd <= 1 {
		return ymax
	}
	return ((x-(c-0.5))/(wd-1) + 0.5) * ymax
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// clamp8 rounds v to the nearest integer in [0, 255].
func clamp8(v float64) uint8 {
	if !(v > 0) { // also NaN
		return 0
	}
	if v >= 255 {
		return 255
	}
	return uint8(v + 0.5)
}
