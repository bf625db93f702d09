//go:build unix && !linux

package testcluster

import "syscall"

// childProcAttr puts a server in its own process group, so a terminal's
// Ctrl-C reaches only the test binary. Without Linux's Pdeathsig, servers
// outlive a test binary killed with SIGKILL.
func childProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
