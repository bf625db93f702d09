//go:build unix && !linux

package main

import "syscall"

// childProcAttr puts a dev node in its own process group, so the terminal's
// Ctrl-C reaches only dev. Without Linux's Pdeathsig, nodes outlive a dev
// process that is killed with SIGKILL.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
