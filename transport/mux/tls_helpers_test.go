package mux

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/tlsconf"
)

// testPKI is a cluster CA that writes node and client identities into a
// test's temporary directory.
type testPKI struct {
	t  testing.TB
	ca *tlsconf.Authority
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	ca, err := tlsconf.NewCA("mux test CA", time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{t: t, ca: ca}
}

// load writes kp with the CA certificate to a fresh directory and loads it.
func (p *testPKI) load(kp tlsconf.KeyPair) *tlsconf.Store {
	p.t.Helper()
	s, err := tlsconf.Load(p.write(kp))
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

func (p *testPKI) write(kp tlsconf.KeyPair) tlsconf.Files {
	p.t.Helper()
	dir := p.t.TempDir()
	f := tlsconf.Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	// Only the CA certificate goes to a node, never the CA key.
	if err := os.WriteFile(f.CA, p.ca.Pair().CertPEM, 0o644); err != nil {
		p.t.Fatal(err)
	}
	if err := kp.Write(f.Cert, f.Key); err != nil {
		p.t.Fatal(err)
	}
	return f
}

func (p *testPKI) node(id string) *tlsconf.Store {
	p.t.Helper()
	kp, err := p.ca.IssueNode(id, []string{"127.0.0.1"}, time.Now().Add(time.Hour))
	if err != nil {
		p.t.Fatal(err)
	}
	return p.load(kp)
}

func (p *testPKI) client(name string) *tlsconf.Store {
	p.t.Helper()
	kp, err := p.ca.IssueClient(name, time.Now().Add(time.Hour))
	if err != nil {
		p.t.Fatal(err)
	}
	return p.load(kp)
}

// tlsConfig is testConfig with the identity of node id from p.
func tlsConfig(p *testPKI, id string) Config {
	c := testConfig()
	c.TLS = p.node(id)
	return c
}
