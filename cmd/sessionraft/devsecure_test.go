//go:build unix

package main

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/transport/resp"
)

var redisCLIRE = regexp.MustCompile(`redis-cli --tls --cacert (\S+) -p (\d+) -a (\S+)`)

// TestDevSecure runs "sessionraft dev --secure" as a newcomer would and
// connects as its printed redis-cli line says: TLS with the dev CA and the
// password. Without the password the node refuses; the internal port
// answers nothing to a plaintext client.
func TestDevSecure(t *testing.T) {
	bin, err := testcluster.Binary()
	if err != nil {
		t.Fatal(err)
	}
	if help, _ := exec.Command(bin, "server", "--help").CombinedOutput(); !strings.Contains(string(help), "--client-tls-cert") {
		t.Skip("the client port's TLS flags (issue 10, item 3) are not in this build yet")
	}
	dev := startDev(t, 2*time.Minute, "--secure", "--data-dir", t.TempDir(), "--wait", "90s")
	m := redisCLIRE.FindStringSubmatch(dev.Out.String())
	if m == nil {
		t.Fatalf("no redis-cli line in dev's output")
	}
	ca, port, password := m[1], m[2], m[3]
	cfg, err := (&clientAuth{ca: ca}).tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := "127.0.0.1:" + port

	c, err := dialer{tls: cfg, password: password}.dial(ctx, addr)
	if err != nil {
		t.Fatalf("TLS client with the printed password: %v", err)
	}
	defer c.Close()
	v, err := c.Do(ctx, "SESSION.CREATE", "SUBJECT", "alice")
	if err != nil {
		t.Fatalf("SESSION.CREATE over TLS: %v", err)
	}
	if v.Kind != resp.Map && v.Kind != resp.Array {
		t.Fatalf("SESSION.CREATE answered %+v", v)
	}

	anon, err := dialer{tls: cfg}.dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	_, err = anon.Do(ctx, "SESSION.CREATE", "SUBJECT", "mallory")
	if se, ok := errors.AsType[*resp.ServerError](err); !ok || se.Code != "NOAUTH" {
		t.Fatalf("without the password: %v, want NOAUTH", err)
	}

	// The internal port (base+100) speaks TLS only: a plaintext client's
	// bytes get no answer but a closed connection.
	p, _ := strconv.Atoi(port)
	raft, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+100)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raft.Close()
	_ = raft.SetDeadline(time.Now().Add(15 * time.Second))
	_, _ = raft.Write([]byte("SRMX\x01P\x00\x00\x00\x00\x00\x00\x00\x00"))
	buf := make([]byte, 64)
	if n, err := raft.Read(buf); err == nil || n > 0 && buf[0] != 0x15 {
		// 0x15 would be a TLS alert record: still no data.
		t.Fatalf("plaintext client got %q from the internal port", buf[:n])
	}
}
