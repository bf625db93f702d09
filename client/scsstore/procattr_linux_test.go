package scsstore_test

import "syscall"

// childProcAttr makes the kernel kill a test server if the test binary dies
// without cleaning up (a -timeout panic, a kill).
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
