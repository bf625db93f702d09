package jepsen

import (
	"os"
	"strings"
	"testing"
)

// TestStaleReadAfterPauseHistory keeps the history that exposed a real bug:
// in a 10-minute 5-node run, n2 was SIGSTOPped while leading this
// session's group, the other nodes elected a leader that acknowledged a
// write (version 5677), and after SIGCONT n2 answered a linearizable read
// with version 5675. hashicorp/raft's VerifyLeader had counted replies to
// requests sent before the pause. Fixed in node: a read round commits an
// empty entry instead. The file is the session's operations from 80 s to
// 86 s of that run; the register's state when the window opens is the
// write that returned last before it.
//
// The checker must call the window illegal, and legal without that one
// read: so the verdict is about the bug, not about how the window was cut.
func TestStaleReadAfterPauseHistory(t *testing.T) {
	f, err := os.Open("testdata/stale-read-after-pause.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ops, err := ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	init := map[string]regState{ops[0].Key: {val: "p3-3030", ver: 5603}}
	isBadRead := func(op Op) bool {
		return op.F == "read" && op.Node == "n2" && op.Version == 5675 && op.Value == "p2-3073"
	}
	var without []Op
	bad := 0
	for _, op := range ops {
		if isBadRead(op) {
			bad++
			continue
		}
		without = append(without, op)
	}
	if bad != 1 {
		t.Fatalf("found %d copies of the stale read in the history, want 1", bad)
	}
	if res := checkLinearizable(ops, init, ""); res.Valid || !strings.Contains(res.Detail, "Illegal") {
		t.Fatalf("history with the stale read: %s, want Illegal", res.Detail)
	}
	if res := checkLinearizable(without, init, ""); !res.Valid {
		t.Fatalf("history without the stale read: %s, want Ok", res.Detail)
	}
}
