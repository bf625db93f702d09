package tlsconf

import (
	"crypto/x509"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestIDURIRoundTrip(t *testing.T) {
	for _, id := range []string{"n1", "node-7.eu", "a/b", "100%", "a?b#c", "ünï", strings.Repeat("x", MaxIDLen)} {
		u, err := url.Parse(NodeURI(id).String())
		if err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		got, ok := parseIDURI(u, nodeHost)
		if !ok || got != id {
			t.Fatalf("%q: round trip gave %q %v via %s", id, got, ok, u)
		}
		if _, ok := parseIDURI(u, clientHost); ok {
			t.Fatalf("%q: node URI parsed as a client URI", id)
		}
	}
	for _, bad := range []string{"", "a b", "tab\t", strings.Repeat("x", MaxIDLen+1), "\xff"} {
		if err := CheckID(bad); !errors.Is(err, ErrBadID) {
			t.Errorf("CheckID(%q) = %v, want ErrBadID", bad, err)
		}
	}
	for _, s := range []string{"sessionraft://node/", "https://node/n1", "sessionraft://client/n1", "sessionraft://node/n1?x=1", "sessionraft://u@node/n1"} {
		u, _ := url.Parse(s)
		if id, ok := parseIDURI(u, nodeHost); ok {
			t.Errorf("%s parsed as node %q", s, id)
		}
	}
}

func TestIssuedCertificates(t *testing.T) {
	ca := testCA(t)
	kp, err := ca.IssueNode("n1", []string{"node1.example", "10.0.0.1", "::1"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	c := parsePEM(t, kp.CertPEM)
	if id, err := NodeIDOf(c); err != nil || id != "n1" {
		t.Fatalf("NodeIDOf = %q %v", id, err)
	}
	if len(c.DNSNames) != 1 || c.DNSNames[0] != "node1.example" || len(c.IPAddresses) != 2 {
		t.Fatalf("SANs: %v %v", c.DNSNames, c.IPAddresses)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{u}}); err != nil {
			t.Fatalf("node cert usage %v: %v", u, err)
		}
	}

	ckp, err := ca.IssueClient("alice", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cc := parsePEM(t, ckp.CertPEM)
	if _, err := NodeIDOf(cc); !errors.Is(err, ErrNoNodeID) {
		t.Fatalf("client cert NodeIDOf err = %v, want ErrNoNodeID", err)
	}
	if _, err := cc.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("client certificate usable as a server certificate")
	}
	if _, err := ca.IssueNode("bad id", nil, time.Now().Add(time.Hour)); !errors.Is(err, ErrBadID) {
		t.Fatalf("IssueNode(bad id) err = %v", err)
	}

	// A reloaded CA issues certificates that chain to the same root.
	ca2, err := LoadAuthority(ca.Pair().CertPEM, ca.Pair().KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	kp2, err := ca2.IssueNode("n2", nil, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parsePEM(t, kp2.CertPEM).Verify(x509.VerifyOptions{Roots: roots}); err != nil {
		t.Fatalf("certificate from loaded CA: %v", err)
	}
	if _, err := LoadAuthority(ca.Pair().CertPEM, testCA(t).Pair().KeyPEM); !errors.Is(err, ErrBadFile) {
		t.Fatalf("LoadAuthority with a foreign key: %v", err)
	}
	if _, err := LoadAuthority(kp.CertPEM, kp.KeyPEM); !errors.Is(err, ErrBadFile) {
		t.Fatalf("LoadAuthority with a node certificate: %v", err)
	}
}

func TestLoadRejects(t *testing.T) {
	ca := testCA(t)
	kp, _ := ca.IssueNode("n1", nil, time.Now().Add(time.Hour))
	dir := t.TempDir()
	good := writePair(t, dir, "n1", ca, kp)
	other, _ := testCA(t).IssueNode("n1", nil, time.Now().Add(time.Hour))
	foreign := writePair(t, dir, "foreign", ca, other)
	for name, f := range map[string]Files{
		"missing cert":     {CA: good.CA, Cert: dir + "/nope.pem", Key: good.Key},
		"key mismatch":     {CA: good.CA, Cert: good.Cert, Key: foreign.Key},
		"cert as CA":       {CA: good.Cert, Cert: good.Cert, Key: good.Key},
		"cert of other CA": foreign,
	} {
		if _, err := Load(f); err == nil {
			t.Errorf("%s: Load succeeded", name)
		}
	}
}

func parsePEM(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	blk, _ := pemDecode(b)
	c, err := x509.ParseCertificate(blk)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func FuzzNodeURI(f *testing.F) {
	f.Add("sessionraft://node/n1")
	f.Add("sessionraft://node/a%2Fb")
	f.Add("sessionraft://client/x")
	f.Add("sessionraft://node/%ZZ")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		id, ok := parseIDURI(u, nodeHost)
		if !ok {
			return
		}
		if CheckID(id) != nil {
			t.Fatalf("accepted invalid id %q", id)
		}
		// Whatever is accepted names the same id once re-encoded.
		u2, err := url.Parse(NodeURI(id).String())
		if err != nil {
			t.Fatal(err)
		}
		if id2, ok := parseIDURI(u2, nodeHost); !ok || id2 != id {
			t.Fatalf("%q re-encoded as %s gives %q", id, u2, id2)
		}
	})
}
