//go:build linux

package netns

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// helperEnv makes the test binary a network helper inside a namespace:
// "listen:addr" accepts connections and writes "hi" on each until killed
// (a minute at most), "dial:addr" connects (within a second), reads one
// line and prints it.
const helperEnv = "NETNS_TEST_HELPER"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(helper(h))
	}
	os.Exit(m.Run())
}

func helper(h string) int {
	mode, addr, _ := strings.Cut(h, ":")
	switch mode {
	case "listen":
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Println("listening")
		time.AfterFunc(time.Minute, func() { os.Exit(2) })
		for {
			c, err := l.Accept()
			if err != nil {
				return 1
			}
			fmt.Fprintln(c, "hi")
			c.Close()
		}
	case "dial":
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Print(line)
		return 0
	}
	return 3
}

func needLab(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds network namespaces; skipped with -short")
	}
	if err := Check(); err != nil {
		t.Skipf("skipped: %v", err)
	}
}

// rootLinks lists the test process's namespace's interfaces.
func rootLinks(t *testing.T) []string {
	t.Helper()
	names, err := RootLinks()
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// dial runs the dial helper on host h against addr and returns its output.
func dial(h Host, addr string) (string, error) {
	argv := Command(h, os.Args[0])
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), helperEnv+"=dial:"+addr)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestLab builds a two-node lab, checks that a node reaches another over
// the bridge, that rules refuse, drop and heal, and that Close leaves
// nothing behind: no namespace, and no new link in the root namespace.
func TestLab(t *testing.T) {
	needLab(t)
	before := rootLinks(t)
	ctx := context.Background()
	l, err := New(ctx, "srt", 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if names, _ := List(l.Prefix); len(names) != 4 {
		t.Fatalf("namespaces %v, want switch, n1, n2, cl", names)
	}
	if got := rootLinks(t); !slices.Equal(got, before) {
		t.Errorf("root namespace links changed: %v, was %v", got, before)
	}

	// n2 listens; n1 and the client host dial it.
	argv := Command(l.Nodes[1], os.Args[0])
	srv := exec.Command(argv[0], argv[1:]...)
	addr := net.JoinHostPort(l.Nodes[1].IP, "9000")
	srv.Env = append(os.Environ(), helperEnv+"=listen:"+addr)
	out, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "listening\n" {
		t.Fatalf("listener: %q %v", line, err)
	}
	for _, h := range []Host{l.Nodes[0], l.Client} {
		if got, err := dial(h, addr); err != nil || got != "hi" {
			t.Fatalf("%s dials %s: %q %v", h.Name, addr, got, err)
		}
	}

	// Refused at once, dropped silently (the dial times out), healed.
	n1 := l.Nodes[0].IP
	if err := l.SetRules(ctx, l.Nodes[1], []Rule{{Chain: "input", Peer: n1, Reject: true}}); err != nil {
		t.Fatal(err)
	}
	if got, err := dial(l.Nodes[0], addr); err == nil || !strings.Contains(got, "refused") {
		t.Errorf("n1 dials through a reject rule: %q %v", got, err)
	}
	if got, err := dial(l.Client, addr); err != nil || got != "hi" {
		t.Errorf("the client host, not cut, dials: %q %v", got, err)
	}
	if err := l.SetRules(ctx, l.Nodes[1], []Rule{{Chain: "input", Peer: n1}, {Chain: "input", Peer: l.Client.IP, LossPct: 30}}); err != nil {
		t.Fatal(err)
	}
	if got, err := dial(l.Nodes[0], addr); err == nil || !strings.Contains(got, "timeout") {
		t.Errorf("n1 dials through a drop rule: %q %v", got, err)
	}
	rules, err := l.Rules(ctx, l.Nodes[1])
	if err != nil || !strings.Contains(rules, "numgen random mod 100 < 30 drop") || strings.Contains(rules, "reject") {
		t.Errorf("rules after SetRules (the reject must be gone): %v\n%s", err, rules)
	}
	if err := l.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := dial(l.Nodes[0], addr); err != nil || got != "hi" {
		t.Errorf("n1 dials after Heal: %q %v", got, err)
	}

	_ = srv.Process.Kill()
	_ = srv.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if names, _ := List(l.Prefix); len(names) != 0 {
		t.Errorf("namespaces left after Close: %v", names)
	}
	if got := rootLinks(t); !slices.Equal(got, before) {
		t.Errorf("root namespace links after Close: %v, was %v", got, before)
	}
}

// TestSweep: a namespace named for a dead owner and old enough is
// removed; a live lab's is kept.
func TestSweep(t *testing.T) {
	needLab(t)
	ctx := context.Background()
	l, err := New(ctx, "srt", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	done := exec.Command("true")
	if err := done.Run(); err != nil {
		t.Fatal(err)
	}
	deadPid := done.ProcessState.Pid()
	stale := fmt.Sprintf("srt-%x-%d-abcdef-n1", time.Now().Add(-time.Hour).Unix(), deadPid)
	if _, err := run(ctx, "", "ip", "netns", "add", stale); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deleteNS(context.Background(), stale) })
	young := fmt.Sprintf("srt-%x-%d-abcdef-n1", time.Now().Unix(), deadPid+1_000_000)
	if _, err := run(ctx, "", "ip", "netns", "add", young); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deleteNS(context.Background(), young) })

	gone, err := Sweep(ctx, "srt", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gone, []string{stale}) {
		t.Errorf("swept %v, want only %s", gone, stale)
	}
	if names, _ := List(l.Prefix); len(names) != 3 {
		t.Errorf("the live lab lost namespaces: %v", names)
	}
	if names, _ := List(young); len(names) != 1 {
		t.Errorf("a young namespace was swept")
	}
}

func TestParseName(t *testing.T) {
	at, pid, ok := parseName("srj", "srj-6b119aa1-3194-9b0963-n1")
	if !ok || pid != 3194 || at.Unix() != 0x6b119aa1 {
		t.Errorf("parseName: %v %d %v", at, pid, ok)
	}
	for _, bad := range []string{"srj-zz-1-a-n1", "srx-6b119aa1-3194-9b0963-n1", "srj-6b119aa1-3194-n1", "srj-6b119aa1-0-9b0963-n1"} {
		if _, _, ok := parseName("srj", bad); ok {
			t.Errorf("parseName(%q) ok", bad)
		}
	}
}

// TestLabAddHost: a host added to a running lab gets the next address and
// a port on the bridge (the first node reaches it), and a fault table;
// bad names and indexes are refused; a Lab opened from JSON (a child
// process's copy) removes the hosts it added when closed, and the
// builder's Close removes any it did not.
func TestLabAddHost(t *testing.T) {
	needLab(t)
	before := rootLinks(t)
	ctx := context.Background()
	l, err := New(ctx, "srt", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	for _, bad := range []struct {
		i    int
		name string
	}{{2, "x1"}, {1, "n1"}, {1, "cl"}, {1, "X-1"}, {1, ""}, {1, "abcdefghijklm"}} {
		if err := l.AddHost(bad.i, bad.name); err == nil {
			t.Errorf("AddHost(%d, %q) accepted", bad.i, bad.name)
		}
	}
	if err := l.AddHost(1, "x1"); err != nil {
		t.Fatal(err)
	}
	x1 := l.Node(1)
	if x1.Name != "x1" || x1.IP != NodeIP(1) || l.IP(1) != x1.IP {
		t.Fatalf("added host %+v", x1)
	}

	// x1 listens; n1 dials it over the bridge; its input chain cuts n1.
	argv := l.Command(1, []string{os.Args[0]})
	srv := exec.Command(argv[0], argv[1:]...)
	addr := net.JoinHostPort(x1.IP, "9000")
	srv.Env = append(os.Environ(), helperEnv+"=listen:"+addr)
	out, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "listening\n" {
		t.Fatalf("listener: %q %v", line, err)
	}
	if got, err := dial(l.Nodes[0], addr); err != nil || got != "hi" {
		t.Fatalf("n1 dials x1: %q %v", got, err)
	}
	if err := l.SetRules(ctx, x1, []Rule{{Chain: "input", Peer: l.Nodes[0].IP, Reject: true}}); err != nil {
		t.Fatal(err)
	}
	if got, err := dial(l.Nodes[0], addr); err == nil || !strings.Contains(got, "refused") {
		t.Errorf("n1 dials x1 through a reject rule: %q %v", got, err)
	}
	_ = srv.Process.Kill()
	_ = srv.Wait()

	// A copy of the lab, as jepsen's child gets it, adds x2 and removes it.
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var cp Lab
	if err := json.Unmarshal(b, &cp); err != nil {
		t.Fatal(err)
	}
	if err := cp.AddHost(2, "x2"); err != nil {
		t.Fatal(err)
	}
	if names, _ := List(cp.Node(2).NS); len(names) != 1 {
		t.Fatalf("x2's namespace: %v", names)
	}
	if err := cp.Close(); err != nil {
		t.Fatal(err)
	}
	if names, _ := List(l.Prefix); len(names) != 4 {
		t.Errorf("after the copy's Close: %v, want switch, n1, x1, cl", names)
	}
	// The copy adds x3 and does not close: the builder removes it.
	var cp2 Lab
	if err := json.Unmarshal(b, &cp2); err != nil {
		t.Fatal(err)
	}
	if err := cp2.AddHost(2, "x3"); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if names, _ := List(l.Prefix); len(names) != 0 {
		t.Errorf("namespaces left after Close: %v", names)
	}
	if got := rootLinks(t); !slices.Equal(got, before) {
		t.Errorf("root namespace links after Close: %v, was %v", got, before)
	}
}
