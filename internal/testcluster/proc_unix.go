//go:build unix

package testcluster

import (
	"errors"
	"os"
	"syscall"
)

// The signals Pause, Resume and DumpStacks send.
var sigStop, sigCont, sigQuit os.Signal = syscall.SIGSTOP, syscall.SIGCONT, syscall.SIGQUIT

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
