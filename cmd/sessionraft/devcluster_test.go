//go:build unix

package main

import (
	"fmt"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
)

// devCluster is "sessionraft dev" run as a user would: one process that
// starts three server processes of its own, on ports from a free base
// port. The process clusters of the other tests start through
// internal/testcluster; dev is itself under test here, so only its own
// process is (testcluster.StartProcess).
type devCluster struct {
	*testcluster.Process
	bin   string
	addrs []string       // the nodes' client addresses, n1 first
	pids  map[string]int // the nodes' pids, from dev's output
}

var devPidRE = regexp.MustCompile(`started (n\d) pid=(\d+)`)

// startDev runs "sessionraft dev --fresh --base-port <free>" with args and
// waits up to ready for its ready banner. Cleanup stops it (SIGTERM, then
// SIGKILL), kills any node it left and, if the test failed, logs its
// output.
func startDev(t *testing.T, ready time.Duration, args ...string) *devCluster {
	t.Helper()
	bin, err := testcluster.Binary()
	if err != nil {
		t.Fatal(err)
	}
	base, err := testcluster.FreeBasePort(3)
	if err != nil {
		t.Fatal(err)
	}
	d := &devCluster{bin: bin, pids: map[string]int{}}
	for i := range 3 {
		d.addrs = append(d.addrs, fmt.Sprintf("127.0.0.1:%d", base+i))
	}
	d.Process, err = testcluster.StartProcess(bin, append([]string{"dev", "--fresh", "--base-port", strconv.Itoa(base)}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.Stop(15 * time.Second)
		for _, pid := range d.pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("dev output:\n%s", d.Out.String())
		}
	})
	if err := d.WaitOutput("Ctrl-C stops", ready); err != nil {
		t.Fatalf("dev: cluster not ready: %v", err)
	}
	for _, m := range devPidRE.FindAllStringSubmatch(d.Out.String(), -1) {
		pid, _ := strconv.Atoi(m[2])
		d.pids[m[1]] = pid
	}
	return d
}
