//go:build unix

package main

import "syscall"

// selfCPUSeconds is the user + system CPU time this process (the load
// tool: its workers and the clients they drive) has used, and whether
// the platform can tell.
func selfCPUSeconds() (float64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9, true
}
