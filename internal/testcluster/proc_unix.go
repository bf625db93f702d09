//go:build unix

package testcluster

import (
	"errors"
	"os"
	"syscall"
)

// The signals Pause, Resume, DumpStacks and Process.Stop send.
var sigStop, sigCont, sigQuit, sigTerm os.Signal = syscall.SIGSTOP, syscall.SIGCONT, syscall.SIGQUIT, syscall.SIGTERM

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
