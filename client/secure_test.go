//go:build unix

package client

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
)

// TestSecuredCluster runs the client against a cluster whose client ports
// serve TLS and require a password: every connection the client opens (to
// the seeds, after a topology refresh, to a new leader after a failover)
// must do the TLS handshake and HELLO AUTH.
func TestSecuredCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-process cluster")
	}
	dir := t.TempDir()
	flags, tlsConf, err := testcluster.SecureClientPort(dir, "clusterpw", "user app on >apppw ~* +@all -@admin\nuser ro on >ropw ~* +@read +topology\n")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := testcluster.Start(testcluster.Options{
		Dir:    filepath.Join(dir, "cluster"),
		Flags:  flags,
		Client: testcluster.ClientOptions{TLS: tlsConf, Password: "clusterpw"},
		Writes: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Stop() })

	ctx := testCtx(t)
	c := newClient(t, Config{Seeds: tc.Addrs(), TLS: tlsConf, Username: "app", Password: "apppw", RefreshInterval: 200 * time.Millisecond})
	s, err := c.Create(ctx, WithTTL(time.Minute), WithFields(map[string][]byte{"k": b("v")}))
	if err != nil {
		t.Fatal(err)
	}

	// Kill the node that leads the session's group: the client must reach
	// the new leader over new, authenticated TLS connections.
	tp := c.topo.Load()
	leader := tp.groups[tp.ring.Group(s.ID)].leader
	victim := tc.ByAddr(leader)
	if victim == nil {
		t.Fatalf("no node at the leader address %q", leader)
	}
	if err := tc.Kill(victim); err != nil {
		t.Fatal(err)
	}
	if !testcluster.WaitFor(20*time.Second, func() bool {
		_, err := c.Set(ctx, s.ID, map[string][]byte{"k": b("after")})
		return err == nil
	}) {
		t.Fatal("no write succeeded after the leader was killed")
	}
	if got, err := c.Get(ctx, s.ID); err != nil || string(got.Fields["k"]) != "after" {
		t.Fatalf("Get after failover: %v %+v", err, got)
	}

	// Refused credentials and rights, as the sentinels say.
	ro := newClient(t, Config{Seeds: tc.Addrs(), TLS: tlsConf, Username: "ro", Password: "ropw"})
	if _, err := ro.Set(ctx, s.ID, map[string][]byte{"k": b("x")}); !errors.Is(err, ErrNoPerm) {
		t.Errorf("read-only Set: %v, want ErrNoPerm", err)
	}
	nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := New(nctx, Config{Seeds: tc.Addrs(), TLS: tlsConf, Username: "app", Password: "wrong", DialTimeout: time.Second}); !errors.Is(err, ErrAuth) {
		t.Errorf("New with a wrong password: %v, want ErrAuth", err)
	}
	if _, err := New(nctx, Config{Seeds: tc.Addrs(), TLS: tlsConf, DialTimeout: time.Second}); !errors.Is(err, ErrAuth) {
		t.Errorf("New without a password: %v, want ErrAuth", err)
	}
}
