package tlsconf

import (
	"crypto/tls"
	"encoding/pem"
	"net"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testCA makes a CA valid for a day.
func testCA(t testing.TB) *Authority {
	t.Helper()
	ca, err := NewCA("test CA", time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// writePair writes ca's certificate and kp into dir under name and returns
// the Files naming them.
func writePair(t testing.TB, dir, name string, ca *Authority, kp KeyPair) Files {
	t.Helper()
	f := Files{
		CA:   filepath.Join(dir, name+"-ca.pem"),
		Cert: filepath.Join(dir, name+".pem"),
		Key:  filepath.Join(dir, name+"-key.pem"),
	}
	if err := (KeyPair{CertPEM: ca.Pair().CertPEM}).writeCertOnly(f.CA); err != nil {
		t.Fatal(err)
	}
	if err := kp.Write(f.Cert, f.Key); err != nil {
		t.Fatal(err)
	}
	return f
}

func (kp KeyPair) writeCertOnly(path string) error { return writeAtomic(path, kp.CertPEM, 0o644) }

// nodeStore issues a node certificate for id from ca and loads it.
func nodeStore(t testing.TB, ca *Authority, id string) *Store {
	t.Helper()
	kp, err := ca.IssueNode(id, []string{"localhost", "127.0.0.1"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(writePair(t, t.TempDir(), id, ca, kp))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type hsResult struct {
	server, client error
	serverState    tls.ConnectionState
	clientState    tls.ConnectionState
}

// handshake runs one TLS handshake over loopback TCP. The server answers one
// byte after a successful handshake, so a client whose certificate the
// server rejects (TLS 1.3 reports that after the client's Finished) sees
// the failure as well.
func handshake(t *testing.T, srv, cli *tls.Config) hsResult {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var r hsResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			r.server = err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(c, srv)
		if r.server = tc.Handshake(); r.server == nil {
			r.serverState = tc.ConnectionState()
			_, r.server = tc.Write([]byte{'k'})
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(c, cli)
	if r.client = tc.Handshake(); r.client == nil {
		r.clientState = tc.ConnectionState()
		var b [1]byte
		_, r.client = tc.Read(b[:])
	}
	c.Close()
	<-done
	return r
}

func pemDecode(b []byte) ([]byte, bool) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, false
	}
	return blk.Bytes, true
}
