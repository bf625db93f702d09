package node

import (
	"testing"
)

func TestParseMinFreeDisk(t *testing.T) {
	for _, c := range []struct {
		in    string
		bytes uint64
		pct   float64
		ok    bool
	}{
		{"512MiB", 512 << 20, 0, true},
		{"2GB", 2e9, 0, true},
		{"1073741824", 1 << 30, 0, true},
		{"64k", 64 << 10, 0, true},
		{"5%", 0, 5, true},
		{" 2.5 %", 0, 2.5, true},
		{"0", 0, 0, true},
		{"100%", 0, 0, false},
		{"-1%", 0, 0, false},
		{"lots", 0, 0, false},
		{"-5MiB", 0, 0, false},
		{"99999999999TiB", 0, 0, false},
		{"", 0, 0, false},
	} {
		b, p, err := ParseMinFreeDisk(c.in)
		if (err == nil) != c.ok || b != c.bytes || p != c.pct {
			t.Errorf("ParseMinFreeDisk(%q) = %d, %v, %v; want %d, %v, ok=%v", c.in, b, p, err, c.bytes, c.pct, c.ok)
		}
	}
}

func TestMinFree(t *testing.T) {
	c := DefaultConfig()
	if got := c.minFree(100 << 30); got != 512<<20 {
		t.Fatalf("default threshold %d, want 512 MiB", got)
	}
	c.MinFreeDiskPercent = 10
	if got := c.minFree(100 << 30); got != 10<<30 {
		t.Fatalf("10%% of 100 GiB: %d", got)
	}
	c.MinFreeDisk, c.MinFreeDiskPercent = 0, 0
	if c.diskGuardOn() {
		t.Fatal("guard on with both thresholds 0")
	}
}
