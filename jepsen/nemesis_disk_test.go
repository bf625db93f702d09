package jepsen

import (
	"testing"
	"time"
)

// TestDiskNemesis: register and set workloads while the disk nemesis
// fills, slows down and breaks the disks of a minority; every checker
// green (the no-crash checker included: a node stopped by its failing
// disk is expected to stop, any other exit is a crash).
func TestDiskNemesis(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real cluster under faults; skipped with -short")
	}
	res := run(t, RunConfig{Workloads: []string{"register", "set"}, Nemeses: []string{"disk"}, Duration: 24 * time.Second})
	if !res.Valid {
		t.Fatalf("checkers failed; history, visualisation and logs in %s", res.Config.OutDir)
	}
	t.Logf("faults: %v", res.Faults)
	for w, n := range res.Counts {
		if n.OK < 50 {
			t.Errorf("%s: only %d ok operations: the run proves little", w, n.OK)
		}
	}
}
