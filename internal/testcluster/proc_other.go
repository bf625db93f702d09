//go:build !unix

package testcluster

import "syscall"

func childProcAttr() *syscall.SysProcAttr { return nil }

// alive cannot ask; Stop then relies on the reaped process being gone.
func alive(int) bool { return false }
