//go:build !unix

package node

import "time"

func cpuTimes() (sys, user time.Duration, ok bool) { return 0, 0, false }

func residentBytes() uint64 { return 0 }

func systemMemory() uint64 { return 0 }
