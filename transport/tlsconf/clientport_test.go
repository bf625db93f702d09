package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"testing"
	"time"
)

func TestClientPort(t *testing.T) {
	ca := testCA(t)
	kp, err := ca.IssueNode("n1", []string{"127.0.0.1"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	files := writePair(t, t.TempDir(), "port", ca, kp)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	ckp, err := ca.IssueClient("cli", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := tls.X509KeyPair(ckp.CertPEM, ckp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cli := func(v uint16, withCert bool) *tls.Config {
		c := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: v, MaxVersion: v}
		if withCert {
			c.Certificates = []tls.Certificate{clientCert}
		}
		return c
	}

	// Without a CA: TLS 1.2 and 1.3, no client certificate asked; 1.1 refused.
	noCA := files
	noCA.CA = ""
	p, err := LoadClientPort(noCA)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		if r := handshake(t, p.ServerConfig(), cli(v, false)); r.client != nil || r.server != nil {
			t.Errorf("TLS %x: client %v, server %v", v, r.client, r.server)
		}
	}
	if r := handshake(t, p.ServerConfig(), cli(tls.VersionTLS11, false)); r.client == nil {
		t.Error("TLS 1.1 accepted")
	}

	// With a CA: a client certificate is required and verified.
	p, err = LoadClientPort(files)
	if err != nil {
		t.Fatal(err)
	}
	if r := handshake(t, p.ServerConfig(), cli(tls.VersionTLS13, true)); r.client != nil || r.server != nil {
		t.Errorf("with a client certificate: client %v, server %v", r.client, r.server)
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		if r := handshake(t, p.ServerConfig(), cli(v, false)); r.server == nil {
			t.Errorf("TLS %x without a client certificate accepted", v)
		}
	}
	other := testCA(t)
	okp, _ := other.IssueClient("stranger", time.Now().Add(time.Hour))
	stranger, _ := tls.X509KeyPair(okp.CertPEM, okp.KeyPEM)
	sc := cli(tls.VersionTLS13, false)
	sc.Certificates = []tls.Certificate{stranger}
	if r := handshake(t, p.ServerConfig(), sc); r.server == nil {
		t.Error("a client certificate from another CA accepted")
	}

	// A broken file on reload keeps the previous material.
	if err := os.WriteFile(files.Cert, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(); !errors.Is(err, ErrBadFile) {
		t.Errorf("Reload of a broken certificate: %v", err)
	}
	if r := handshake(t, p.ServerConfig(), cli(tls.VersionTLS13, true)); r.client != nil || r.server != nil {
		t.Errorf("after a failed reload: client %v, server %v", r.client, r.server)
	}

	// Cert and key are required.
	if _, err := LoadClientPort(Files{Cert: files.Cert}); !errors.Is(err, ErrBadFile) {
		t.Errorf("no key: %v", err)
	}
}
