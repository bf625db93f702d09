//go:build unix && !linux

package node

func sysinfoRAM() uint64 { return 0 }
