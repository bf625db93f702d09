package jepsen

import (
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
)

// TestSecuredClientPorts is the CI case of issue 10: the register workload
// under leader kills, with every client port serving TLS only and
// requiring a password (the harness, its direct reads and the Go client
// all connect that way).
func TestSecuredClientPorts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real cluster under faults; skipped with -short")
	}
	flags, tlsConf, err := testcluster.SecureClientPort(t.TempDir(), "defaultpw", "user jepsen on >jepsenpw ~* +@all\n")
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, RunConfig{
		Workloads: []string{"register"}, Nemeses: []string{"kill"}, Duration: 14 * time.Second,
		ExtraArgs: flags,
		Client:    testcluster.ClientOptions{TLS: tlsConf, Username: "jepsen", Password: "jepsenpw"},
	})
	if !res.Valid {
		t.Fatalf("checkers failed; history, visualisation and logs in %s", res.Config.OutDir)
	}
	for w, n := range res.Counts {
		if n.OK < 50 {
			t.Errorf("%s: only %d ok operations: the run proves little", w, n.OK)
		}
	}
}
