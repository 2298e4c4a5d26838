package jpeg

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time used by the calling OS thread (the
// benchmarks lock their goroutine to it), so that rates stay meaningful on
// a loaded machine.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
