package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/tlsconf"
)

// clientPKI is a CA, a client-port certificate for 127.0.0.1 issued by it
// and a client certificate, as files.
type clientPKI struct {
	ca               *tlsconf.Authority
	dir              string
	files            tlsconf.Files // the server's: CA (for client certificates), cert, key
	clientCert       tls.Certificate
	roots            *x509.CertPool
	clientCertFile   string
	clientKeyFile    string
	caFile, certFile string
}

func newClientPKI(t *testing.T) *clientPKI {
	t.Helper()
	ca, err := tlsconf.NewCA("test client CA", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	p := &clientPKI{ca: ca, dir: t.TempDir(), roots: x509.NewCertPool()}
	p.roots.AddCert(ca.Cert)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	if err := ca.Pair().Write(p.caFile, filepath.Join(p.dir, "ca.key")); err != nil {
		t.Fatal(err)
	}
	p.certFile = filepath.Join(p.dir, "server.pem")
	p.issueServer(t)
	p.files = tlsconf.Files{CA: p.caFile, Cert: p.certFile, Key: filepath.Join(p.dir, "server.key")}
	kp, err := ca.IssueClient("tester", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	p.clientCertFile, p.clientKeyFile = filepath.Join(p.dir, "client.pem"), filepath.Join(p.dir, "client.key")
	if err := kp.Write(p.clientCertFile, p.clientKeyFile); err != nil {
		t.Fatal(err)
	}
	if p.clientCert, err = tls.X509KeyPair(kp.CertPEM, kp.KeyPEM); err != nil {
		t.Fatal(err)
	}
	return p
}

// issueServer (re)issues the client port's certificate.
func (p *clientPKI) issueServer(t *testing.T) {
	t.Helper()
	kp, err := p.ca.IssueNode("n1", []string{"127.0.0.1", "localhost"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := kp.Write(p.certFile, filepath.Join(p.dir, "server.key")); err != nil {
		t.Fatal(err)
	}
}

// clientTLS is what a client that trusts the CA uses, with the client
// certificate when withCert.
func (p *clientPKI) clientTLS(withCert bool) *tls.Config {
	c := &tls.Config{RootCAs: p.roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if withCert {
		c.Certificates = []tls.Certificate{p.clientCert}
	}
	return c
}

// startTLS starts a one-node cluster serving its client port over TLS with
// requirepass; requireClientCert adds the CA for client certificates.
func startTLS(t *testing.T, p *clientPKI, requireClientCert bool) (*testCluster, *tlsconf.ClientPort) {
	t.Helper()
	files := p.files
	if !requireClientCert {
		files.CA = ""
	}
	port, err := tlsconf.LoadClientPort(files)
	if err != nil {
		t.Fatal(err)
	}
	c := startClusterAs(t, 1, func(cfg *Config) {
		cfg.ClientTLS = port.ServerConfig()
		cfg.RequirePass = "tlspw"
	}, testcluster.ClientOptions{TLS: p.clientTLS(true), Password: "tlspw"})
	return c, port
}

func dialTLS(t *testing.T, addr string, cfg *tls.Config) (*resp.Client, *tls.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	tc := nc.(*tls.Conn)
	cl := resp.NewClient(nc)
	t.Cleanup(func() { cl.Close() })
	return cl, tc, nil
}

func TestClientTLS(t *testing.T) {
	p := newClientPKI(t)
	tc, port := startTLS(t, p, false)
	addr := tc.cfgs[0].ClientAddr

	// As redis-cli --tls --cacert ca.pem -a tlspw would.
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := p.clientTLS(false)
		cfg.MinVersion, cfg.MaxVersion = v, v
		cl, conn, err := dialTLS(t, addr, cfg)
		if err != nil {
			t.Fatalf("TLS %x: %v", v, err)
		}
		c := &clientT{t, cl}
		wantReply(t, c, "-NOAUTH Authentication required.", "PING")
		c.ok("AUTH", "tlspw")
		wantReply(t, c, "PONG", "PING")
		if got := conn.ConnectionState().Version; got != v {
			t.Errorf("negotiated %x, want %x", got, v)
		}
	}

	// TLS 1.1 and older are refused.
	old := p.clientTLS(false)
	old.MinVersion, old.MaxVersion = tls.VersionTLS11, tls.VersionTLS11
	if _, _, err := dialTLS(t, addr, old); err == nil {
		t.Error("a TLS 1.1 handshake succeeded")
	}

	// Plaintext gets nothing useful: no RESP reply, and the connection ends.
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(nc)
	if bytes.Contains(got, []byte("PONG")) || bytes.Contains(got, []byte("NOAUTH")) || (err != nil && isTimeout(err)) {
		t.Errorf("plaintext on the TLS port: read %q, %v", got, err)
	}

	// Reload: a new certificate serves new connections.
	first := certSerial(t, addr, p.clientTLS(false))
	p.issueServer(t)
	if err := port.Reload(); err != nil {
		t.Fatal(err)
	}
	if second := certSerial(t, addr, p.clientTLS(false)); second == first {
		t.Error("the reloaded certificate is not served")
	}
}

func certSerial(t *testing.T, addr string, cfg *tls.Config) string {
	t.Helper()
	_, conn, err := dialTLS(t, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestClientTLSClientCert(t *testing.T) {
	p := newClientPKI(t)
	tc, _ := startTLS(t, p, true)
	addr := tc.cfgs[0].ClientAddr

	cl, _, err := dialTLS(t, addr, p.clientTLS(true))
	if err != nil {
		t.Fatal(err)
	}
	c := &clientT{t, cl}
	c.ok("AUTH", "tlspw")
	c.ok("PING")

	// Without a certificate the handshake fails (with TLS 1.3 the client
	// learns it at its first read).
	cl2, _, err := dialTLS(t, addr, p.clientTLS(false))
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if v, err := cl2.Do(ctx, "AUTH", "tlspw"); err == nil {
			t.Errorf("a client without a certificate got %v", v)
		}
	}
}
