package main

import (
	"os"
	"testing"

	"github.com/sessionraft/sessionraft/internal/testcluster"
)

// TestMain removes the server binary the process tests built (see
// internal/testcluster), once for all of them.
func TestMain(m *testing.M) {
	code := m.Run()
	testcluster.Cleanup()
	os.Exit(code)
}
