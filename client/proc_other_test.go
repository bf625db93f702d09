//go:build unix && !linux

package client

import "syscall"

func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
