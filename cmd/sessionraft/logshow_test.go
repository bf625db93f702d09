package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/node"
	"github.com/sessionraft/sessionraft/transport/resp"
)

func TestExitStatus(t *testing.T) {
	poisoned := withExitStatus(fmt.Errorf("node n1: %w", &node.PoisonedEntryError{Group: 1, Index: 7, Term: 2, Err: io.ErrUnexpectedEOF}))
	if got := exitStatus(poisoned); got != exitPoisonedEntry {
		t.Fatalf("exit status of a poisoned entry: %d", got)
	}
	if got := exitStatus(withExitStatus(io.EOF)); got != exitError {
		t.Fatalf("exit status of another error: %d", got)
	}
}

// TestLogShow writes a session through a real node, stops it and finds the
// create in its log with "log show": shortened without --secrets, in full
// with it.
func TestLogShow(t *testing.T) {
	dir := t.TempDir()
	ports, err := testcluster.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.DefaultConfig()
	cfg.ID, cfg.DataDir, cfg.BootstrapExpect = "n1", dir, 1
	cfg.ClientAddr, cfg.RaftAddr, cfg.GossipAddr = "127.0.0.1:0", "127.0.0.1:0", fmt.Sprintf("127.0.0.1:%d", ports[0])
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := node.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	const id = "LogShowIdQx7Jd93kLmNoPq"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := resp.Dial(ctx, n.ClientAddr())
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, err := c.Do(ctx, "SESSION.CREATE", "ID", id, "SUBJECT", "alice", "FIELDS", "token", "hunter2")
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("create: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // the lone node is electing itself
	}
	c.Close()
	n.Close()

	show := func(index int, extra ...string) (string, error) {
		cmd := newLogShowCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(io.Discard)
		cmd.SetArgs(append([]string{"--data-dir", dir, "--group", "0", "--index", fmt.Sprint(index)}, extra...))
		err := cmd.Execute()
		return out.String(), err
	}
	found := -1
	for i := 1; i < 50 && found < 0; i++ {
		out, err := show(i)
		if err != nil {
			break // past the end of the log
		}
		if strings.Contains(out, "create id=LogSho...") {
			found = i
			if strings.Contains(out, id) || strings.Contains(out, "hunter2") || !strings.Contains(out, "token=<7 bytes>") {
				t.Fatalf("log show without --secrets:\n%s", out)
			}
		}
	}
	if found < 0 {
		t.Fatal("the create is in no log entry log show described")
	}
	out, err := show(found, "--secrets")
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, `token="hunter2"`) {
		t.Fatalf("log show --secrets: %v\n%s", err, out)
	}
	if _, err := show(100000); err == nil {
		t.Fatal("log show of an index past the log succeeded")
	}
}
