package jepsen

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/transport/tlsconf"
)

// TestSecuredClientPorts is the CI case of issue 10: the register workload
// under leader kills, with every client port serving TLS only and
// requiring a password (the harness, its direct reads and the Go client
// all connect that way).
func TestSecuredClientPorts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real cluster under faults; skipped with -short")
	}
	dir := t.TempDir()
	ca, err := tlsconf.NewCA("", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.IssueNode("client-port", []string{"127.0.0.1"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "port.pem"), filepath.Join(dir, "port.key")
	if err := kp.Write(cert, key); err != nil {
		t.Fatal(err)
	}
	aclFile := filepath.Join(dir, "users.acl")
	if err := os.WriteFile(aclFile, []byte("user jepsen on >jepsenpw ~* +@all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	res := run(t, RunConfig{
		Workloads: []string{"register"}, Nemeses: []string{"kill"}, Duration: 14 * time.Second,
		ExtraArgs: []string{"--client-tls-cert", cert, "--client-tls-key", key, "--requirepass", "defaultpw", "--aclfile", aclFile},
		Client:    testcluster.ClientOptions{TLS: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, Username: "jepsen", Password: "jepsenpw"},
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
