//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/internal/testcluster/netns"
)

func TestDevNetnsNeedsRoot(t *testing.T) {
	defer func(f func() int) { geteuid = f }(geteuid)
	geteuid = func() int { return 1000 }
	var out bytes.Buffer
	err := runDev(context.Background(), devOptions{dataDir: t.TempDir(), basePort: 7001, nodes: 3, netns: true}, nil, &console{out: &out, errOut: &out})
	if err == nil || !strings.Contains(err.Error(), "--netns needs root") {
		t.Fatalf("dev --netns as a user: %v", err)
	}
}

var (
	devNetnsNS  = regexp.MustCompile(`clients' namespace (srdev-\S+-cl) `)
	devNetnsCut = regexp.MustCompile(`(?m)^  (ip -n \S+ link set dev n3 down)$`)
	devNetnsUp  = regexp.MustCompile(`(?m)^  (ip -n \S+ link set dev n3 up)$`)
)

// TestDevNetns runs "sessionraft dev --netns": three nodes, each in its own
// namespace on its own address, reached from the clients' namespace; the
// printed commands cut n3's network and heal it; on SIGTERM every node
// stops and every namespace is removed.
func TestDevNetns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-process cluster in network namespaces; skipped with -short")
	}
	if err := netns.Check(); err != nil {
		t.Skipf("dev --netns test skipped: %v", err)
	}
	linksBefore := rootLinks(t)
	bin, err := testcluster.Binary()
	if err != nil {
		t.Fatal(err)
	}
	dev, err := testcluster.StartProcess(bin, "dev", "--netns", "--fresh", "--data-dir", t.TempDir(), "--wait", "90s", "--log-level", "warn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dev.Stop(15 * time.Second)
		if t.Failed() {
			t.Logf("dev output:\n%s", dev.Out.String())
		}
	})
	if err := dev.WaitOutput("Ctrl-C stops", 2*time.Minute); err != nil {
		t.Fatalf("dev --netns: %v", err)
	}
	out := dev.Out.String()
	m := devNetnsNS.FindStringSubmatch(out)
	cut, up := devNetnsCut.FindStringSubmatch(out), devNetnsUp.FindStringSubmatch(out)
	if m == nil || cut == nil || up == nil {
		t.Fatalf("no clients' namespace, cut or heal command in the output")
	}
	clientNS := m[1]
	prefix := strings.TrimSuffix(clientNS, "-cl")
	var addrs []string
	for i := range 3 {
		a := net.JoinHostPort(netns.NodeIP(i), "7001")
		if !strings.Contains(out, "client "+a) {
			t.Errorf("the output does not list %s", a)
		}
		addrs = append(addrs, a)
	}
	if got := rootLinks(t); !slices.Equal(got, linksBefore) {
		t.Errorf("root namespace links: %v, before %v", got, linksBefore)
	}

	status := func() []nodeStatus {
		o, _ := exec.Command("ip", "netns", "exec", clientNS, bin, "status", "--json", "--timeout", "1s", "--addr", strings.Join(addrs, ",")).Output()
		var sts []nodeStatus
		_ = json.Unmarshal(o, &sts)
		return sts
	}
	up3 := func(want bool) bool {
		sts := status()
		return len(sts) == 3 && sts[0].Up && sts[1].Up && sts[2].Up == want
	}
	if !testcluster.WaitFor(30*time.Second, func() bool { return up3(true) }) {
		t.Fatalf("status from %s: %+v", clientNS, status())
	}
	for _, c := range []struct {
		cmd  string
		n3Up bool
	}{{cut[1], false}, {up[1], true}} {
		if o, err := exec.Command("sh", "-c", c.cmd).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v %s", c.cmd, err, o)
		}
		if !testcluster.WaitFor(30*time.Second, func() bool { return up3(c.n3Up) }) {
			t.Fatalf("after %q: status %+v", c.cmd, status())
		}
	}

	if err := dev.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dev.Exited():
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not exit within 30s of SIGTERM")
	}
	if err := dev.Err(); err != nil {
		t.Errorf("dev exit: %v", err)
	}
	if left, _ := netns.List(prefix); len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
	if got := rootLinks(t); !slices.Equal(got, linksBefore) {
		t.Errorf("root namespace links after dev: %v, before %v", got, linksBefore)
	}
}

// rootLinks lists the test process's namespace's interfaces.
func rootLinks(t *testing.T) []string {
	t.Helper()
	names, err := netns.RootLinks()
	if err != nil {
		t.Fatal(err)
	}
	return names
}
