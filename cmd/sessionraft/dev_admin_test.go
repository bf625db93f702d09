//go:build unix

package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

var devStatusRE = regexp.MustCompile(`status page (http://[0-9.:]+/)`)

func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b
}

// checkDevAdmin checks the admin ports dev's banner lists.
func checkDevAdmin(t *testing.T, out string) {
	t.Helper()
	urls := devStatusRE.FindAllStringSubmatch(out, -1)
	if len(urls) != 3 {
		t.Fatalf("banner lists %d status pages, want 3", len(urls))
	}
	for _, m := range urls {
		base := m[1]
		if code, page := httpGet(t, base); code != http.StatusOK || !bytes.Contains(page, []byte("status.json")) {
			t.Errorf("%s: HTTP %d", base, code)
		}
		if code, body := httpGet(t, base+"ready"); code != http.StatusOK {
			t.Errorf("%sready: HTTP %d %s", base, code, body)
		}
		code, body := httpGet(t, base+"metrics")
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
