package main

import (
	"testing"

	"github.com/minipacs/minipacs/dicomweb"
)

// TestAccessOps checks that every kind of DICOMweb access has its audit
// operation (an unmapped kind would be recorded as nothing).
func TestAccessOps(t *testing.T) {
	for k := dicomweb.AccessStored; k <= dicomweb.AccessDeleted; k++ {
		if accessOps[k] == 0 {
			t.Errorf("AccessKind %d has no audit operation", k)
		}
	}
	if len(accessOps) != int(dicomweb.AccessDeleted) {
		t.Errorf("accessOps has %d entries, want %d", len(accessOps), dicomweb.AccessDeleted)
	}
}
