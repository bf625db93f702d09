package jepsen

import (
	"os"
	"testing"
	"time"
)

// TestMembershipNemesis: the register and set workloads while servers are
// added and removed (3 -> 4 or 5 -> 3) and voters are killed for good and
// replaced; every checker must pass. Promotion waits --promote-stable-for,
// shortened here so a change fits in a fault period.
func TestMembershipNemesis(t *testing.T) {
	if testing.Short() || os.Getenv("JEPSEN_MEMBER") == "" {
		t.Skip("runs real clusters while changing membership; set JEPSEN_MEMBER=1")
	}
	for _, nem := range []string{"member-grow", "member-replace"} {
		t.Run(nem, func(t *testing.T) {
			res := run(t, RunConfig{Workloads: []string{"register", "set"}, Nemeses: []string{nem},
				Duration: 40 * time.Second, FaultFor: 8 * time.Second,
				ExtraArgs: []string{"--promote-stable-for", "1s"}})
			if !res.Valid {
				t.Fatalf("checkers failed; history, visualisation and logs in %s", res.Config.OutDir)
			}
			for w, n := range res.Counts {
				if n.OK < 50 {
					t.Errorf("%s: only %d ok operations: the run proves little", w, n.OK)
				}
			}
		})
	}
}
