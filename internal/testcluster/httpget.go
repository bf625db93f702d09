package testcluster

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"
)

// HTTPGet fetches url (a node's admin port: /metrics, /status, /health)
// and returns the status code and body; it fails t if the request does
// not complete within 10s.
func HTTPGet(t testing.TB, url string) (int, []byte) {
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
