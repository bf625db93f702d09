//go:build !unix

package testcluster

import (
	"os"
	"syscall"
)

func childProcAttr() *syscall.SysProcAttr { return nil }

// There are no such signals: Pause, Resume and DumpStacks fail.
var sigStop, sigCont, sigQuit os.Signal

// Process.Stop asks with an interrupt instead of SIGTERM.
var sigTerm = os.Interrupt

// alive cannot ask; Stop then relies on the reaped process being gone.
func alive(int) bool { return false }
