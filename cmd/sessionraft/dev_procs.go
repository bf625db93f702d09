package main

import (
	"os"
	"runtime"
	"strconv"
)

// devGOMAXPROCS is the environment that gives each of n servers sharing
// this machine its share of the CPUs: GOMAXPROCS=max(1, NumCPU/n), unless
// the user set GOMAXPROCS. Each Go runtime otherwise runs NumCPU threads
// for n processes on NumCPU cores, and on a mostly idle node every wake-up
// of a goroutine starts another thread (a futex wake, a context switch)
// only to find nothing to do: on 2 cores with 3 nodes, GOMAXPROCS=1 cut
// the servers' CPU per stale read by about a fifth (docs/benchmarks.md,
// round 5). A real deployment runs one server per host and keeps the
// runtime's default.
func devGOMAXPROCS(n int) []string {
	if _, set := os.LookupEnv("GOMAXPROCS"); set || n < 1 {
		return nil
	}
	return []string{"GOMAXPROCS=" + strconv.Itoa(max(1, runtime.NumCPU()/n))}
}
