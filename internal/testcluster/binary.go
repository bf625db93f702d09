package testcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// BinEnv names the environment variable that, when set, is the sessionraft
// binary to test (another version, or one built while the tree's server
// does not build) instead of one built from this module.
const BinEnv = "SESSIONRAFT_TEST_BIN"

const serverPkg = "github.com/sessionraft/sessionraft/cmd/sessionraft"

var build struct {
	mu   sync.Mutex
	dir  string // temporary directory of the built binary
	path string
	err  error
	done bool
}

// Binary returns the sessionraft binary to run: $SESSIONRAFT_TEST_BIN if
// set, otherwise one built from this module's cmd/sessionraft with the go
// tool on PATH (or that of the toolchain that built the test), once per
// test process. The build goes to a temporary directory that Cleanup
// removes.
func Binary() (string, error) {
	if p := os.Getenv(BinEnv); p != "" {
		return p, nil
	}
	build.mu.Lock()
	defer build.mu.Unlock()
	if !build.done {
		build.path, build.err = buildServer()
		build.done = true
	}
	return build.path, build.err
}

func buildServer() (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir, err := os.MkdirTemp("", "sessionraft-testbin-")
	if err != nil {
		return "", err
	}
	build.dir = dir
	bin := filepath.Join(dir, "sessionraft")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The test runs in its package's directory, inside the module, so the
	// import path resolves to this tree's server.
	out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, serverPkg).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", serverPkg, err, out)
	}
	return bin, nil
}

// Cleanup removes the binary Binary built, if it built one. TestMain calls
// it after m.Run (Run does); a later Binary builds again.
func Cleanup() {
	build.mu.Lock()
	defer build.mu.Unlock()
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
	build.dir, build.path, build.err, build.done = "", "", nil, false
}
