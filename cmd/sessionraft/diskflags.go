package main

import (
	"strconv"

	"github.com/sessionraft/sessionraft/node"
)

// minFreeDiskValue is --min-free-disk: bytes or a percentage, into the
// two fields of node.Config.
type minFreeDiskValue struct{ c *node.Config }

func (v *minFreeDiskValue) String() string {
	if v.c == nil {
		return ""
	}
	if v.c.MinFreeDiskPercent > 0 {
		return strconv.FormatFloat(v.c.MinFreeDiskPercent, 'g', -1, 64) + "%"
	}
	return formatBytes(v.c.MinFreeDisk)
}

func (v *minFreeDiskValue) Set(s string) error {
	b, pct, err := node.ParseMinFreeDisk(s)
	if err != nil {
		return err
	}
	v.c.MinFreeDisk, v.c.MinFreeDiskPercent = b, pct
	return nil
}

func (*minFreeDiskValue) Type() string { return "size|percent" }

// formatBytes writes n in the largest binary unit that divides it.
func formatBytes(n uint64) string {
	for _, u := range []struct {
		s string
		m uint64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.m && n%u.m == 0 {
			return strconv.FormatUint(n/u.m, 10) + u.s
		}
	}
	return strconv.FormatUint(n, 10)
}
