package jepsen

import (
	"os"
	"path/filepath"
	"strings"
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

// TestSecuredInternalPort is issue 10's CI case with everything on: the
// internal port runs mutual TLS with a node certificate per node (raft
// streams, forwarding and term polls, every raft message checked against
// its certificate), gossip is encrypted, and the client ports serve TLS
// with authentication. The register and set workloads run under
// partitions and leader kills; every checker must pass.
func TestSecuredInternalPort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real cluster under faults; skipped with -short")
	}
	dir := t.TempDir()
	flags, tlsConf, err := testcluster.SecureClientPort(dir, "defaultpw", "user jepsen on >jepsenpw ~* +@all\n")
	if err != nil {
		t.Fatal(err)
	}
	nodeFlags, err := testcluster.SecureInternalPort(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, RunConfig{
		Workloads: []string{"register", "set"}, Nemeses: []string{"partition", "kill"}, Duration: 12 * time.Second,
		ExtraArgs: flags,
		NodeArgs:  nodeFlags,
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
	// The servers ran with internal TLS: their logs say nothing of an
	// unauthenticated internal port.
	for _, id := range []string{"n1", "n2", "n3"} {
		log, err := os.ReadFile(filepath.Join(res.Config.Dir, id+".log"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(log), "the internal port is unauthenticated") || strings.Contains(string(log), "gossip is not encrypted") {
			t.Fatalf("%s ran without internal TLS or gossip encryption", id)
		}
	}
}
