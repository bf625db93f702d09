package main

import "syscall"

// childProcAttr puts a dev node in its own process group, so the terminal's
// Ctrl-C reaches only dev (which then stops the nodes in order), and asks the
// kernel to send it SIGTERM if dev dies, even by SIGKILL.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
