package main

import (
	"os"
	"runtime"
	"strconv"
	"testing"
)

func TestDevGOMAXPROCS(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	if got := devGOMAXPROCS(3); got != nil {
		t.Fatalf("with GOMAXPROCS set by the user: %v, want nothing added", got)
	}
	// t.Setenv restores it; unset it for the default case.
	t.Run("unset", func(t *testing.T) {
		unsetenv(t, "GOMAXPROCS")
		want := max(1, runtime.NumCPU()/3)
		if got := devGOMAXPROCS(3); len(got) != 1 || got[0] != "GOMAXPROCS="+strconv.Itoa(want) {
			t.Fatalf("3 nodes on %d CPUs: %v, want GOMAXPROCS=%d", runtime.NumCPU(), got, want)
		}
		if got := devGOMAXPROCS(runtime.NumCPU() + 1); len(got) != 1 || got[0] != "GOMAXPROCS=1" {
			t.Fatalf("more nodes than CPUs: %v, want GOMAXPROCS=1", got)
		}
	})
}

// unsetenv removes key from the environment for the test (t.Setenv first,
// so that it is restored afterwards).
func unsetenv(t *testing.T, key string) {
	t.Helper()
	t.Setenv(key, "")
	if err := os.Unsetenv(key); err != nil {
		t.Fatal(err)
	}
}
