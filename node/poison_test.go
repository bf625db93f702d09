package node

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/fsm"
)

// TestPoisonedEntry: a committed entry the state machine cannot decode
// stops the node with the group, index, term and reason (no panic), again
// at every restart, and the offline reader shows the entry.
func TestPoisonedEntry(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, "n1", dir)
	cfg.BootstrapExpect = 1
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	g := n.groups[0]
	waitFor(t, 30*time.Second, "leader", func() error {
		if !g.isReady() {
			return errors.New("not ready")
		}
		return nil
	})
	// A batch envelope whose command count promises more than it holds.
	poison := []byte{byte(fsm.CmdBatch), fsm.EnvelopeVersion, 0x02, 0x7f, 0x01}
	f := g.raft.Apply(poison, 5*time.Second)
	_ = f.Error()
	index, term := f.Index(), g.raft.CurrentTerm()
	select {
	case <-n.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the node did not stop at the poisoned entry")
	}
	check := func(err error) {
		t.Helper()
		pe, ok := errors.AsType[*PoisonedEntryError](err)
		if !ok {
			t.Fatalf("node error %v is not a PoisonedEntryError", err)
		}
		if pe.Group != 0 || pe.Index != index || pe.Term != term || pe.Err == nil {
			t.Fatalf("PoisonedEntryError %+v, want group 0 index %d term %d", pe, index, term)
		}
		for _, s := range []string{"group 0", "index", "cannot be applied", "sessionraft log show"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not say %q", err, s)
			}
		}
	}
	check(n.Err())

	e, err := ReadLogEntry(dir, 0, index)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.Data, poison) || e.Term != term {
		t.Fatalf("read back %+v", e)
	}
	var out strings.Builder
	if err := e.Describe(&out, false); err == nil || !strings.Contains(out.String(), "cannot decode") {
		t.Fatalf("Describe of the poisoned entry: %v\n%s", err, out.String())
	}

	// A restart meets the entry again and stops the same way.
	n2, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n2.Close() })
	select {
	case <-n2.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the restarted node did not stop at the poisoned entry")
	}
	check(n2.Err())
}
