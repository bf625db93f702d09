package testcluster

import "syscall"

// childProcAttr puts a server in its own process group, so a terminal's
// Ctrl-C reaches only the test binary, and makes the kernel SIGKILL it when
// the thread that started it exits, which for the spawner thread (see
// Cluster.spawn) is when the cluster stops or the test binary dies, even
// by SIGKILL.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
