//go:build unix

package node

import (
	"bytes"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// cpuTimes is the process's system and user CPU time (getrusage), what
// Redis reports as used_cpu_sys and used_cpu_user.
func cpuTimes() (sys, user time.Duration, ok bool) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, false
	}
	return time.Duration(ru.Stime.Nano()), time.Duration(ru.Utime.Nano()), true
}

// residentBytes is the resident set size from /proc/self/statm (Linux);
// 0 where there is none.
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

// systemMemory is the machine's memory (Linux sysinfo); 0 elsewhere.
func systemMemory() uint64 { return sysinfoRAM() }
