//go:build unix

package main

import (
	"bytes"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/sessionraft/sessionraft/internal/testcluster"
)

var devStatusRE = regexp.MustCompile(`status page (http://[0-9.:]+/)`)

// checkDevAdmin checks the admin ports dev's banner lists.
func checkDevAdmin(t *testing.T, out string) {
	t.Helper()
	urls := devStatusRE.FindAllStringSubmatch(out, -1)
	if len(urls) != 3 {
		t.Fatalf("banner lists %d status pages, want 3", len(urls))
	}
	for _, m := range urls {
		base := m[1]
		if code, page := testcluster.HTTPGet(t, base); code != http.StatusOK || !bytes.Contains(page, []byte("status.json")) {
			t.Errorf("%s: HTTP %d", base, code)
		}
		if code, body := testcluster.HTTPGet(t, base+"ready"); code != http.StatusOK {
			t.Errorf("%sready: HTTP %d %s", base, code, body)
		}
		code, body := testcluster.HTTPGet(t, base+"metrics")
		if code != http.StatusOK {
			t.Fatalf("%smetrics: HTTP %d", base, code)
		}
		// Families by prefix: which of raft's and memberlist's metrics
		// exist depends on what the node did (led, followed, probed).
		for _, fam := range []string{"sessionraft_group_role ", "sessionraft_ready ", "sessionraft_raft_", "sessionraft_memberlist_"} {
			if !bytes.Contains(body, []byte("\n# TYPE "+fam)) {
				t.Errorf("%smetrics has no %s family", base, strings.TrimSpace(fam))
			}
		}
		problems, err := promlint.New(bytes.NewReader(body)).Lint()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("%smetrics lint: %s: %s", base, p.Metric, p.Text)
		}
		if path, err := exec.LookPath("promtool"); err == nil {
			cmd := exec.Command(path, "check", "metrics")
			cmd.Stdin = bytes.NewReader(body)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("promtool check metrics %smetrics: %v\n%s", base, err, strings.TrimSpace(string(out)))
			}
		}
	}
}
