package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sessionraft/sessionraft/transport/tlsconf"
)

func TestCertsCommands(t *testing.T) {
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	for _, args := range [][]string{
		{"certs", "ca", "--out", pki},
		{"certs", "node", "--id", "n1", "--host", "127.0.0.1", "--host", "node1.example", "--ca-dir", pki, "--out", pki},
		{"certs", "client", "--name", "app", "--ca-dir", pki, "--out", pki},
	} {
		if code := run(context.Background(), args); code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
	}
	for name, mode := range map[string]os.FileMode{
		"ca.crt": 0o644, "ca.key": 0o600, "n1.crt": 0o644, "n1.key": 0o600, "app.crt": 0o644, "app.key": 0o600,
	} {
		fi, err := os.Stat(filepath.Join(pki, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	st, err := tlsconf.Load(tlsconf.Files{CA: filepath.Join(pki, "ca.crt"), Cert: filepath.Join(pki, "n1.crt"), Key: filepath.Join(pki, "n1.key")})
	if err != nil {
		t.Fatal(err)
	}
	if st.NodeID() != "n1" {
		t.Fatalf("node certificate names %q", st.NodeID())
	}
	if got := st.Certificate().DNSNames; len(got) != 1 || got[0] != "node1.example" {
		t.Fatalf("DNS names %v", got)
	}
	cl, err := tlsconf.Load(tlsconf.Files{CA: filepath.Join(pki, "ca.crt"), Cert: filepath.Join(pki, "app.crt"), Key: filepath.Join(pki, "app.key")})
	if err != nil {
		t.Fatal(err)
	}
	if cl.NodeID() != "" {
		t.Fatalf("client certificate names node %q", cl.NodeID())
	}
	// No silent overwrite.
	if code := run(context.Background(), []string{"certs", "ca", "--out", pki}); code == 0 {
		t.Fatal("certs ca overwrote an existing CA")
	}
}
