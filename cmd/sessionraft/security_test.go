package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/client"
	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/node"
	"github.com/sessionraft/sessionraft/transport/tlsconf"
)

// secureFiles are the files of a secured node: client port CA,
// certificate and key, a client certificate, an ACL file.
type secureFiles struct {
	dir                  string
	ca, cert, key        string
	clientCert, clientKy string
	acl                  string
}

const secureACL = `user admin on >adminpw ~* +@all
user reader on >readpw ~* +@read +@connection +topology
`

func writeSecureFiles(t *testing.T) secureFiles {
	t.Helper()
	dir := t.TempDir()
	f := secureFiles{dir: dir,
		ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "node.pem"), key: filepath.Join(dir, "node.key"),
		clientCert: filepath.Join(dir, "client.pem"), clientKy: filepath.Join(dir, "client.key"),
		acl: filepath.Join(dir, "users.acl")}
	ca, err := tlsconf.NewCA("", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Pair().Write(f.ca, filepath.Join(dir, "ca.key")); err != nil {
		t.Fatal(err)
	}
	kp, err := ca.IssueNode("n1", []string{"127.0.0.1", "localhost"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := kp.Write(f.cert, f.key); err != nil {
		t.Fatal(err)
	}
	if kp, err = ca.IssueClient("ops", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := kp.Write(f.clientCert, f.clientKy); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.acl, []byte(secureACL), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// securedServerArgs are the server flags of a one-node cluster with TLS
// (client certificates required) and authentication on its client port.
func securedServerArgs(t *testing.T, f secureFiles) []string {
	t.Helper()
	ports, err := testcluster.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	return []string{
		"--id", "n1", "--data-dir", filepath.Join(f.dir, "data"),
		"--client-addr", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--raft-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--gossip-addr", fmt.Sprintf("127.0.0.1:%d", ports[2]),
		"--bootstrap-expect", "1", "--no-sync", "--log-level", "error",
		"--client-tls-cert", f.cert, "--client-tls-key", f.key, "--client-tls-ca", f.ca,
		"--requirepass", "defaultpw", "--aclfile", f.acl,
	}
}

func TestSecurityServerFlags(t *testing.T) {
	f := writeSecureFiles(t)
	cmd, o := newServerCommand()
	if err := cmd.ParseFlags(securedServerArgs(t, f)); err != nil {
		t.Fatal(err)
	}
	cfg, err := o.config(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientTLS == nil || cfg.RequirePass != "defaultpw" || cfg.ACLFile != f.acl || len(o.reloads) != 1 {
		t.Errorf("config: TLS %v, requirepass %q, aclfile %q, %d reloadables", cfg.ClientTLS != nil, cfg.RequirePass, cfg.ACLFile, len(o.reloads))
	}
	reloadAll(cfg.Logger, o.reloads) // the files are valid: reloading them works

	// From the environment, as the help says.
	cfg, err = parseServer(t, []string{"--id", "x", "--data-dir", "/d", "--bootstrap-expect", "1"}, map[string]string{
		"SESSIONRAFT_REQUIREPASS": "envpw", "SESSIONRAFT_ACLFILE": f.acl,
		"SESSIONRAFT_CLIENT_TLS_CERT": f.cert, "SESSIONRAFT_CLIENT_TLS_KEY": f.key,
	})
	if err != nil || cfg.RequirePass != "envpw" || cfg.ACLFile != f.acl || cfg.ClientTLS == nil {
		t.Errorf("from the environment: %v, TLS %v", err, cfg.ClientTLS != nil)
	}

	for _, bad := range [][]string{
		{"--client-tls-cert", f.cert},
		{"--client-tls-key", f.key},
		{"--client-tls-ca", f.ca},
		{"--client-tls-cert", f.cert, "--client-tls-key", f.cert},
		{"--client-tls-cert", f.cert, "--client-tls-key", f.key, "--client-tls-ca", f.acl},
	} {
		if _, err := parseServer(t, append([]string{"--id", "x", "--data-dir", "/d", "--bootstrap-expect", "1"}, bad...), nil); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// startSecuredNode runs a node from securedServerArgs, in process, and
// waits until it serves writes.
func startSecuredNode(t *testing.T, f secureFiles) string {
	t.Helper()
	cmd, o := newServerCommand()
	if err := cmd.ParseFlags(securedServerArgs(t, f)); err != nil {
		t.Fatal(err)
	}
	cfg, err := o.config(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	d := dialer{tls: f.clientTLS(t), username: "admin", password: "adminpw"}
	addr := n.ClientAddr()
	if !testcluster.WaitFor(30*time.Second, func() bool {
		ok, _ := clusterReady(queryNodesAs(context.Background(), d, []string{addr}, time.Second, false))
		return ok
	}) {
		t.Fatal("the secured node did not get ready")
	}
	return addr
}

func (f secureFiles) clientTLS(t *testing.T) *tls.Config {
	t.Helper()
	a := clientAuth{ca: f.ca, cert: f.clientCert, key: f.clientKy}
	c, err := a.tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSecurityStatusBenchClient(t *testing.T) {
	f := writeSecureFiles(t)
	addr := startSecuredNode(t, f)
	tlsArgs := []string{"--addr", addr, "--tls-ca", f.ca, "--tls-cert", f.clientCert, "--tls-key", f.clientKy}

	// status with credentials from flags.
	out, errOut, err := runCmd(newStatusCmd(), append(tlsArgs, "--user", "admin", "--pass", "adminpw", "--json")...)
	if err != nil {
		t.Fatalf("status: %v\n%s", err, errOut)
	}
	var sts []nodeStatus
	if err := json.Unmarshal([]byte(out), &sts); err != nil || len(sts) != 1 || !sts[0].Up || sts[0].Node != "n1" || sts[0].Error != "" {
		t.Fatalf("status: %v %+v\n%s", err, sts, out)
	}
	// ... and from the environment (requirepass: the default user).
	t.Setenv("SESSIONRAFT_PASS", "defaultpw")
	if _, errOut, err := runCmd(newStatusCmd(), tlsArgs...); err != nil {
		t.Fatalf("status with $SESSIONRAFT_PASS: %v\n%s", err, errOut)
	}
	// Without a password: NOAUTH, and the command fails.
	t.Setenv("SESSIONRAFT_PASS", "")
	if _, errOut, err := runCmd(newStatusCmd(), tlsArgs...); err == nil || !strings.Contains(errOut, "NOAUTH") {
		t.Errorf("status without a password: %v\n%s", err, errOut)
	}
	// Without TLS: the handshake the node expects never comes.
	if _, _, err := runCmd(newStatusCmd(), "--addr", addr, "--pass", "defaultpw", "--timeout", "2s"); err == nil {
		t.Error("status in plaintext against a TLS port succeeded")
	}

	// bench drives the Go client with TLS and a password.
	o, err := parseBench(t, append(tlsArgs, "--user", "admin", "--pass", "adminpw", "--workload", "create",
		"--duration", "300ms", "--warmup", "0", "--concurrency", "2", "--json", "--progress=false")...)
	if err != nil {
		t.Fatal(err)
	}
	res := runBenchJSON(t, o)
	var rep struct {
		Results []struct {
			Errors uint64 `json:"errors"`
			Runs   []struct {
				Ops uint64 `json:"ops"`
			} `json:"runs"`
		} `json:"results"`
	}
	if err := json.Unmarshal(res.Bytes(), &rep); err != nil || len(rep.Results) != 1 || rep.Results[0].Errors != 0 || rep.Results[0].Runs[0].Ops == 0 {
		t.Fatalf("bench report: %v\n%s", err, res.String())
	}

	// The Go client directly: TLS and HELLO AUTH on every connection.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tlsConf := f.clientTLS(t)
	c, err := client.New(ctx, client.Config{Seeds: []string{addr}, TLS: tlsConf, Username: "admin", Password: "adminpw"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.Create(ctx, client.WithTTL(time.Minute), client.WithFields(map[string][]byte{"k": []byte("v")}))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, s.ID); err != nil || string(got.Fields["k"]) != "v" {
		t.Fatalf("Get: %v %+v", err, got)
	}
	// A read-only user reads and gets ErrNoPerm on a write.
	ro, err := client.New(ctx, client.Config{Seeds: []string{addr}, TLS: tlsConf, Username: "reader", Password: "readpw"})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.Get(ctx, s.ID); err != nil {
		t.Errorf("reader Get: %v", err)
	}
	if _, err := ro.Set(ctx, s.ID, map[string][]byte{"k": []byte("w")}); !errors.Is(err, client.ErrNoPerm) {
		t.Errorf("reader Set: %v, want ErrNoPerm", err)
	}
	// Wrong credentials: New fails with ErrAuth in its message.
	_, err = client.New(ctx, client.Config{Seeds: []string{addr}, TLS: tlsConf, Username: "admin", Password: "nope", DialTimeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Errorf("New with a wrong password: %v", err)
	}

	// redis-cli, when installed (Debian: redis-tools), as an operator would.
	cli, lookErr := exec.LookPath("redis-cli")
	if lookErr != nil {
		t.Log("redis-cli not installed: skipping its part (apt-get install redis-tools)")
		return
	}
	host, port, _ := strings.Cut(addr, ":")
	rc := exec.CommandContext(ctx, cli, "-h", host, "-p", port, "--tls", "--cacert", f.ca,
		"--cert", f.clientCert, "--key", f.clientKy, "--user", "admin", "--pass", "adminpw", "--no-auth-warning", "PING")
	got, err := rc.CombinedOutput()
	if err != nil || strings.TrimSpace(string(got)) != "PONG" {
		t.Errorf("redis-cli --tls PING: %v: %q", err, got)
	}
	rc = exec.CommandContext(ctx, cli, "-h", host, "-p", port, "--tls", "--cacert", f.ca,
		"--cert", f.clientCert, "--key", f.clientKy, "PING")
	if got, _ := rc.CombinedOutput(); !strings.Contains(string(got), "NOAUTH") {
		t.Errorf("redis-cli without a password: %q", got)
	}
}

// runCmd runs a cobra command with args and returns its output.
func runCmd(cmd interface {
	SetArgs([]string)
	SetOut(io.Writer)
	SetErr(io.Writer)
	Execute() error
}, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}
