package client

import "syscall"

// childAttr makes the kernel kill a test server if the test binary dies,
// even by SIGKILL, so no cluster outlives its test.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
