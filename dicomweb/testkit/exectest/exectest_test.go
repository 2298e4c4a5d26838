package exectest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprintf(&b, "%d\n", i)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
}

func TestLookToolAndRunLogged(t *testing.T) {
	sh := LookTool(t, "sh")
	RunLogged(t, 10*time.Second, t.TempDir(), nil, sh, "-c", "echo line one; echo line two >&2")
}
