package node

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/sessionraft/sessionraft/fsm"
)

// TestBackupCommands drives BACKUP.OPEN/READ/CLOSE on a one-node cluster:
// the snapshot read back in chunks has the size and index OPEN announced
// and holds the session written before it, handles are bounded per node,
// and a closed or unknown handle is refused.
func TestBackupCommands(t *testing.T) {
	c := startCluster(t, 1, nil)
	cl := c.client(0)
	created := asMap(t, mustOK(t, cl, "SESSION.CREATE", "SUBJECT", "u", "TTL", "1h", "FIELDS", "k", "v"))
	open := asMap(t, mustOK(t, cl, "BACKUP.OPEN", "0"))
	handle := open["handle"].Str
	size := open["bytes"].Int
	if handle == "" || size <= 0 || open["index"].Int <= 0 {
		t.Fatalf("BACKUP.OPEN answered %v", open)
	}
	var data []byte
	for int64(len(data)) < size {
		v := mustOK(t, cl, "BACKUP.READ", handle, strconv.Itoa(len(data)), "100")
		if len(v.Str) == 0 || len(v.Str) > 100 {
			t.Fatalf("READ at %d answered %d bytes", len(data), len(v.Str))
		}
		data = append(data, v.Str...)
	}
	if v := mustOK(t, cl, "BACKUP.READ", handle, strconv.FormatInt(size, 10), "100"); len(v.Str) != 0 {
		t.Fatalf("READ at the end answered %d bytes", len(v.Str))
	}
	st := c.node(0).groups[0].fsm
	restored := newFSMFrom(t, st.Limits(), data)
	if restored.AppliedIndex() != uint64(open["index"].Int) {
		t.Fatalf("snapshot at index %d, OPEN said %d", restored.AppliedIndex(), open["index"].Int)
	}
	if _, ok := restored.GetAt(created["id"].Str, 0); !ok {
		t.Fatal("the session written before BACKUP.OPEN is not in the backup")
	}

	// Bounded: maxOpenBackups in all.
	for range maxOpenBackups - 1 {
		mustOK(t, cl, "BACKUP.OPEN", "0")
	}
	if code := errCode(do(t, cl, "BACKUP.OPEN", "0")); code != "BUSY" {
		t.Fatalf("OPEN beyond %d handles: %q, want BUSY", maxOpenBackups, code)
	}
	if v := mustOK(t, cl, "BACKUP.CLOSE", handle); v.Int != 1 {
		t.Fatalf("CLOSE of an open handle: %v", v)
	}
	if v := mustOK(t, cl, "BACKUP.CLOSE", handle); v.Int != 0 {
		t.Fatalf("CLOSE of a closed handle: %v", v)
	}
	if code := errCode(do(t, cl, "BACKUP.READ", handle, "0", "10")); code != "BADARG" {
		t.Fatalf("READ of a closed handle: %q", code)
	}
	if code := errCode(do(t, cl, "BACKUP.OPEN", "7")); code != "BADARG" {
		t.Fatalf("OPEN of a group that does not exist: %q", code)
	}
	mustOK(t, cl, "BACKUP.OPEN", "0") // a place was freed
}

// newFSMFrom restores a state machine from snapshot bytes.
func newFSMFrom(t *testing.T, l fsm.Limits, data []byte) *fsm.FSM {
	t.Helper()
	f := fsm.New(l)
	if err := f.Restore(bytes.NewReader(data)); err != nil {
		t.Fatalf("the backup does not restore: %v", err)
	}
	return f
}
