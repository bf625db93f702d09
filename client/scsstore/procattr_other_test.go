//go:build !linux

package scsstore_test

import "syscall"

func childProcAttr() *syscall.SysProcAttr { return nil }
