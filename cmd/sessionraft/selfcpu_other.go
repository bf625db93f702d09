//go:build !unix

package main

// selfCPUSeconds cannot read the process's CPU time here: bench then
// reports no load-tool CPU figure.
func selfCPUSeconds() (float64, bool) { return 0, false }
