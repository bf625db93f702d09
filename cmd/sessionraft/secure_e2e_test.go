//go:build unix

package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/node"
)

// TestServerInternalTLS runs three server processes with mutual TLS on the
// internal port and encrypted gossip, as the flags set them: the cluster
// forms, forwards between nodes, rotates its gossip key with gossip-keys,
// and a SIGHUP reloads the certificates.
func TestServerInternalTLS(t *testing.T) {
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		t.Fatal(err)
	}
	nodeFlags, err := testcluster.SecureInternalPort(pki, 3)
	if err != nil {
		t.Fatal(err)
	}
	var key string // the gossip key the nodes start with, which the rotation replaces
	for id, f := range nodeFlags {
		key = f[slices.Index(f, "--gossip-key")+1]
		nodeFlags[id] = append(f, "--log-level", "info")
	}
	tc, err := testcluster.Start(testcluster.Options{Dir: filepath.Join(dir, "data"), NodeFlags: nodeFlags, Writes: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tc.Stop() })
	addrs := tc.Addrs()

	// A gossip key rotation, one command per step.
	next, _ := node.GenerateGossipKey()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, step := range [][]string{{"INSTALL", next}, {"USE", next}, {"REMOVE", key}} {
		var out strings.Builder
		if err := runGossipKeys(ctx, &out, dialer{}, addrs[:1], 10*time.Second, append([]string{"GOSSIP.KEYS"}, step...)); err != nil {
			t.Fatalf("gossip-keys %s: %v\n%s", step[0], err, out.String())
		}
		if strings.Count(out.String(), ": OK") != 3 {
			t.Fatalf("gossip-keys %s did not reach the three nodes:\n%s", step[0], out.String())
		}
	}
	var out strings.Builder
	if err := runGossipKeys(ctx, &out, dialer{}, addrs[:1], 10*time.Second, []string{"GOSSIP.KEYS", "LIST"}); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "primary "+next) != 3 || strings.Contains(out.String(), key) {
		t.Fatalf("keys after the rotation:\n%s", out.String())
	}
	if err := tc.WaitWrites(30*time.Second, 3); err != nil {
		t.Fatalf("writes after the gossip key rotation: %v", err)
	}

	n1 := tc.Nodes[0]
	if err := syscall.Kill(n1.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(n1.Log(), "internal TLS certificates reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload logged after SIGHUP:\n%s", n1.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := tc.WaitWrites(30*time.Second, 3); err != nil {
		t.Fatalf("writes after the reload: %v", err)
	}
}
