package kind_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/kind"
)

func TestOf(t *testing.T) {
	errGone := kind.New(kind.NotFound, "thing: gone")
	errFull := kind.New(kind.Full, "thing: full")
	tests := []struct {
		name string
		err  error
		want *kind.Kind
	}{
		{"nil", nil, nil},
		{"plain", errors.New("x"), nil},
		{"sentinel", errGone, kind.NotFound},
		{"wrapped", fmt.Errorf("op: %w", errFull), kind.Full},
		{"joined", errors.Join(errors.New("x"), errGone), kind.NotFound},
		{"kind itself", kind.Conflict, kind.Conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kind.Of(tt.err); got != tt.want {
				t.Fatalf("Of = %v, want %v", got, tt.want)
			}
		})
	}
	if errGone.Error() != "thing: gone" {
		t.Fatalf("text %q", errGone.Error())
	}
	if !errors.Is(fmt.Errorf("a: %w", errGone), errGone) || errors.Is(errGone, kind.Full) {
		t.Fatal("errors.Is does not tell sentinels or kinds apart")
	}
}
