package pgtest

import "syscall"

// procAttr makes the kernel shut the postmaster down (SIGQUIT: an
// immediate shutdown, which also ends its backends) if the test process
// dies without stopping it. Go sets it after switching to the postgres
// user, which would clear it.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGQUIT}
}
