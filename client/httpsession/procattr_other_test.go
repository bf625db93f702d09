//go:build !linux

package httpsession_test

import "syscall"

func childProcAttr() *syscall.SysProcAttr { return nil }
