package sgtest

import "syscall"

// sysProcAttr makes the kernel kill a node when the test process dies, so that a panicking
// test leaves no servers behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
