package part10

import (
	"strings"
	"testing"
)

func TestValidUID(t *testing.T) {
	for in, ok := range map[string]bool{
		"1.2.3": true, "1.02.3": true, "0": true, "": false, ".1": false, "1.": false, "1..2": false,
		"1.2.a": false, strings.Repeat("1", 64): true, strings.Repeat("1", 65): false, "1.2/3": false,
	} {
		if ValidUID(in) != ok {
			t.Errorf("ValidUID(%q) = %v", in, !ok)
		}
	}
}
