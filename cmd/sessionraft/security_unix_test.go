//go:build unix

package main

import (
	"context"
	"crypto/tls"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/transport/tlsconf"
)

// TestSecuritySIGHUP runs a secured server process and reloads its client
// port certificate and its ACL file with SIGHUP; a broken file is logged
// and the previous one kept.
func TestSecuritySIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	bin, err := testcluster.Binary()
	if err != nil {
		t.Fatal(err)
	}
	f := writeSecureFiles(t)
	args := append([]string{"server"}, securedServerArgs(t, f)...)
	args = append(args, "--log-level", "info")
	p, err := testcluster.StartProcess(bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(10 * time.Second) })
	if err := p.WaitOutput("sessionraft node running", 30*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.Out.String())
	}
	var addr string
	for _, a := range args {
		if strings.HasPrefix(a, "127.0.0.1:") && addr == "" {
			addr = a // --client-addr comes first
		}
	}
	d := dialer{tls: f.clientTLS(t), username: "admin", password: "adminpw"}
	serial := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		td := tls.Dialer{Config: d.tls}
		nc, err := td.DialContext(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		return nc.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()

	// A new certificate and a new user, then SIGHUP.
	ca, err := tlsconf.LoadAuthority(mustRead(t, f.ca), mustRead(t, f.dir+"/ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.IssueNode("n1", []string{"127.0.0.1"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := kp.Write(f.cert, f.key); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.acl, []byte(secureACL+"user late on >latepw ~* +@all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitOutput("SIGHUP: reloaded", 10*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.Out.String())
	}
	if !testcluster.WaitFor(10*time.Second, func() bool { return serial() != before }) {
		t.Error("the new certificate is not served after SIGHUP")
	}
	late := dialer{tls: d.tls, username: "late", password: "latepw"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := late.dial(ctx, addr)
	if err != nil {
		t.Fatalf("the user added before SIGHUP: %v", err)
	}
	c.Close()

	// A broken ACL file: logged, the previous users stay, the node runs.
	if err := os.WriteFile(f.acl, []byte("user broken on +@nosuch\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitOutput("reload failed", 10*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.Out.String())
	}
	if c, err := late.dial(ctx, addr); err != nil {
		t.Errorf("after a failed reload: %v", err)
	} else {
		c.Close()
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
