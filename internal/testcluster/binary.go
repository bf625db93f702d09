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

// builds holds the binaries built by this test process, plain and -race.
var builds struct {
	mu  sync.Mutex
	dir string // temporary directory of the built binaries
	bin map[bool]built
}

type built struct {
	path string
	err  error
}

// Binary returns the sessionraft binary to run: $SESSIONRAFT_TEST_BIN if
// set, otherwise one built from this module's cmd/sessionraft, once per
// test process. The build goes to a temporary directory that Cleanup
// removes.
func Binary() (string, error) { return binary(false) }

// RaceBinary is Binary built with -race: slower, but the servers then
// report their own data races. $SESSIONRAFT_TEST_BIN overrides it too.
func RaceBinary() (string, error) { return binary(true) }

func binary(race bool) (string, error) {
	if p := os.Getenv(BinEnv); p != "" {
		return p, nil
	}
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if b, ok := builds.bin[race]; ok {
		return b.path, b.err
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "sessionraft-testbin-")
		if err != nil {
			return "", err
		}
		builds.dir = dir
	}
	sub := "plain"
	if race {
		sub = "race"
	}
	var b built
	b.path, b.err = Build(context.Background(), filepath.Join(builds.dir, sub), race)
	if builds.bin == nil {
		builds.bin = map[bool]built{}
	}
	builds.bin[race] = b
	return b.path, b.err
}

// Build builds the server from this module's cmd/sessionraft into dir
// (created if need be) and returns the binary's path, within five minutes
// and ctx. race adds -race. It uses the go tool on PATH, or that of the
// toolchain that built the caller; run it inside the module (a test runs
// in its package's directory), so that the import path resolves to this
// tree's server.
func Build(ctx context.Context, dir string, race bool) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sessionraft")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, append(args, serverPkg)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go %v %s: %v\n%s", args, serverPkg, err, out)
	}
	return bin, nil
}

// Cleanup removes the binaries Binary and RaceBinary built, if they built
// any. TestMain calls it after m.Run (Run does); a later Binary builds
// again.
func Cleanup() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
	}
	builds.dir, builds.bin = "", nil
}
