package jepsen

import (
	"os"
	"strings"
	"testing"
	"time"
)

// memberChanges counts the membership changes of a run's fault log that
// completed: starts and stops of a membership nemesis without an error.
func memberChanges(res *Result) (starts, stops int) {
	for _, f := range res.Faults {
		if strings.Contains(f, "(error:") {
			continue
		}
		switch {
		case strings.Contains(f, "member start: killed") || strings.Contains(f, "member start: added"):
			starts++
		case strings.Contains(f, "member stop: removed"):
			stops++
		}
	}
	return starts, stops
}

// checkMemberRun fails t unless every checker passed, the workloads did
// enough to prove something, and at least one membership change and its
// undoing completed. Nothing here is timed: the run is as long as the
// machine makes it, and a change has minutes (memberTimeout) to finish.
func checkMemberRun(t *testing.T, res *Result) {
	t.Helper()
	if !res.Valid {
		t.Fatalf("checkers failed; history, visualisation and logs in %s", res.Config.OutDir)
	}
	for w, n := range res.Counts {
		if n.OK < 50 {
			t.Errorf("%s: only %d ok operations: the run proves little", w, n.OK)
		}
	}
	if starts, stops := memberChanges(res); starts == 0 || stops == 0 {
		t.Errorf("%d membership changes and %d removals completed, want at least one of each; faults:\n%s", starts, stops, strings.Join(res.Faults, "\n"))
	}
}

// TestMembershipShort is the CI membership case: register and set while
// the member nemesis replaces a killed voter (adding a fresh server,
// MEMBER REPLACE, the dead machine rebuilt empty and added back, the
// replacement removed live), with partitions and kills in between, on
// three nodes. Every fault's round comes once at least, the member
// nemesis's first turn being a replace. (TestMembershipNemesis, behind
// JEPSEN_MEMBER=1, is the longer run of each membership nemesis.)
func TestMembershipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real cluster while changing membership; skipped with -short")
	}
	res := run(t, RunConfig{Workloads: []string{"register", "set"}, Nemeses: []string{"member", "partition", "kill"},
		Duration: 30 * time.Second, FaultFor: 4 * time.Second})
	checkMemberRun(t, res)
}

// TestMembershipNemesis: the register and set workloads while servers are
// added and removed (3 -> 4 or 5 -> 3) and voters are killed for good and
// replaced; every checker must pass. Promotion waits --promote-stable-for,
// shortened by the harness (memberArgs) so a change fits in a fault period.
func TestMembershipNemesis(t *testing.T) {
	if testing.Short() || os.Getenv("JEPSEN_MEMBER") == "" {
		t.Skip("runs real clusters while changing membership; set JEPSEN_MEMBER=1")
	}
	for _, nem := range []string{"member-grow", "member-replace"} {
		t.Run(nem, func(t *testing.T) {
			res := run(t, RunConfig{Workloads: []string{"register", "set"}, Nemeses: []string{nem},
				Duration: 40 * time.Second, FaultFor: 8 * time.Second})
			checkMemberRun(t, res)
		})
	}
}
