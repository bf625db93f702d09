package tlsconf

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

func TestMutualTLSBetweenNodes(t *testing.T) {
	ca := testCA(t)
	n1, n2 := nodeStore(t, ca, "n1"), nodeStore(t, ca, "n2")
	if n1.NodeID() != "n1" {
		t.Fatalf("NodeID = %q", n1.NodeID())
	}
	r := handshake(t, n1.ServerConfig(), n2.ClientConfig("n1"))
	if r.server != nil || r.client != nil {
		t.Fatalf("handshake: server %v, client %v", r.server, r.client)
	}
	if r.serverState.Version != tls.VersionTLS13 {
		t.Fatalf("version %#x, want TLS 1.3", r.serverState.Version)
	}
	if id, err := n1.PeerID(r.serverState); err != nil || id != "n2" {
		t.Fatalf("server sees peer %q, %v; want n2", id, err)
	}
	if id, err := PeerNodeID(r.clientState); err != nil || id != "n1" {
		t.Fatalf("client sees peer %q, %v; want n1", id, err)
	}
	// Unknown expected id: any node of the cluster is accepted.
	if r := handshake(t, n1.ServerConfig(), n2.ClientConfig("")); r.client != nil {
		t.Fatalf("handshake without expected id: %v", r.client)
	}
}

func TestClientRefusesWrongServerID(t *testing.T) {
	ca := testCA(t)
	n1, n2 := nodeStore(t, ca, "n1"), nodeStore(t, ca, "n2")
	r := handshake(t, n1.ServerConfig(), n2.ClientConfig("n3"))
	if !errors.Is(r.client, ErrWrongNodeID) {
		t.Fatalf("client err = %v, want ErrWrongNodeID", r.client)
	}
	if r.server == nil {
		t.Fatal("server completed a handshake the client refused")
	}
}

func TestServerRefuses(t *testing.T) {
	ca := testCA(t)
	srv := nodeStore(t, ca, "n1")

	other := nodeStore(t, testCA(t), "n2") // another cluster's CA
	clientKP, err := ca.IssueClient("operator", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	client, err := Load(writePair(t, t.TempDir(), "operator", ca, clientKP))
	if err != nil {
		t.Fatal(err)
	}
	if client.NodeID() != "" {
		t.Fatalf("client certificate names node %q", client.NodeID())
	}
	for name, cfg := range map[string]*tls.Config{
		"other CA":            other.ClientConfig(""),
		"client certificate":  client.ClientConfig(""),
		"no certificate":      {MinVersion: tls.VersionTLS13, InsecureSkipVerify: true},
		"TLS 1.2 certificate": tls12(other.ClientConfig("")),
	} {
		t.Run(name, func(t *testing.T) {
			r := handshake(t, srv.ServerConfig(), cfg)
			if r.server == nil || r.client == nil {
				t.Fatalf("accepted: server %v, client %v", r.server, r.client)
			}
		})
	}
	// The server's own certificate must chain to the client's CA too.
	if r := handshake(t, other.ServerConfig(), srv.ClientConfig("")); !errors.Is(r.client, ErrUntrusted) {
		t.Fatalf("client reaching another cluster: %v, want ErrUntrusted", r.client)
	}
}

func tls12(c *tls.Config) *tls.Config {
	c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	return c
}

func TestReload(t *testing.T) {
	ca := testCA(t)
	dir := t.TempDir()
	issue := func(id string, notAfter time.Time) KeyPair {
		t.Helper()
		kp, err := ca.IssueNode(id, nil, notAfter)
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	files := writePair(t, dir, "n1", ca, issue("n1", time.Now().Add(time.Hour)))
	srv, err := Load(files)
	if err != nil {
		t.Fatal(err)
	}
	cli := nodeStore(t, ca, "n2")
	first := srv.Certificate().SerialNumber

	// A connection established before the reload.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv.ServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		// The server side handshakes lazily; the client's Dial waits for it.
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if c.(*tls.Conn).Handshake() != nil {
			c.Close()
			close(accepted)
			return
		}
		accepted <- c
	}()
	old, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), cli.ClientConfig("n1"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldSrv := <-accepted
	if oldSrv == nil {
		t.Fatal("accept failed")
	}
	defer oldSrv.Close()
	oldSrv.SetDeadline(time.Now().Add(10 * time.Second))
	old.SetDeadline(time.Now().Add(10 * time.Second))
	echo := func(msg string) {
		t.Helper()
		if _, err := old.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := oldSrv.Read(buf); err != nil || string(buf) != msg {
			t.Fatalf("old connection: %q %v", buf, err)
		}
	}
	echo("before")

	// Rotate to a new certificate for the same id.
	rotated := issue("n1", time.Now().Add(2*time.Hour))
	if err := rotated.Write(files.Cert, files.Key); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	second := srv.Certificate().SerialNumber
	if second.Cmp(first) == 0 {
		t.Fatal("Reload kept the old certificate")
	}
	r := handshake(t, srv.ServerConfig(), cli.ClientConfig("n1"))
	if r.client != nil || r.clientState.PeerCertificates[0].SerialNumber.Cmp(second) != 0 {
		t.Fatalf("new handshake: %v, serial %v want %v", r.client, r.clientState.PeerCertificates, second)
	}
	echo("after") // in-flight connection unaffected

	// Bad new files keep the current material.
	bad := map[string]func(){
		"garbage key": func() { os.WriteFile(files.Key, []byte("not a key"), 0o600) },
		"other id":    func() { issue("n9", time.Now().Add(time.Hour)).Write(files.Cert, files.Key) },
		"expired":     func() { issue("n1", time.Now().Add(-time.Minute)).Write(files.Cert, files.Key) },
		"other CA": func() {
			kp, _ := testCA(t).IssueNode("n1", nil, time.Now().Add(time.Hour))
			kp.Write(files.Cert, files.Key)
		},
		"missing CA": func() { os.Remove(files.CA) },
	}
	wantErr := map[string]error{"garbage key": ErrBadFile, "other id": ErrWrongNodeID, "expired": ErrUntrusted, "other CA": ErrUntrusted, "missing CA": ErrBadFile}
	for name, breakIt := range bad {
		breakIt()
		if err := srv.Reload(); !errors.Is(err, wantErr[name]) {
			t.Errorf("%s: Reload err = %v, want %v", name, err, wantErr[name])
		}
		if srv.Certificate().SerialNumber.Cmp(second) != 0 {
			t.Fatalf("%s: material replaced by a bad file", name)
		}
		r := handshake(t, srv.ServerConfig(), cli.ClientConfig("n1"))
		if r.client != nil || r.server != nil {
			t.Fatalf("%s: handshake after failed reload: %v / %v", name, r.client, r.server)
		}
		// Restore the good pair for the next case.
		writePair(t, dir, "n1", ca, rotated)
	}
}
