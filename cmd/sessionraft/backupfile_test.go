package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/fsm"
)

// groupSnapshot returns the snapshot of a state machine that applied
// entries up to index (fsm's format, as BACKUP.READ hands it out).
func groupSnapshot(t testing.TB, index uint64) []byte {
	t.Helper()
	f := fsm.New(fsm.DefaultLimits())
	for i := uint64(1); i <= index; i++ {
		if _, err := f.ApplyBatch(i, fsm.EncodeBatch(&fsm.Batch{Time: int64(i) * 1e9})); err != nil {
			t.Fatal(err)
		}
	}
	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	var b bytes.Buffer
	if _, err := s.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// writeTestBackup writes a two-group backup file and returns its path and
// bytes.
func writeTestBackup(t testing.TB) (string, []byte) {
	t.Helper()
	m := &backupManifest{Format: backupVersion, Created: time.Unix(1700000000, 0).UTC(), Groups: 2, Ring: ringParams{VNodes: 64, Hash: "fnv1a64-splitmix64"}}
	var rs []io.Reader
	for g, idx := range []uint64{5, 9} {
		snap := groupSnapshot(t, idx)
		sum := sha256.Sum256(snap)
		m.Snapshots = append(m.Snapshots, groupBackup{Group: g, Index: idx, Term: 2, Bytes: int64(len(snap)), SHA256: hex.EncodeToString(sum[:])})
		rs = append(rs, bytes.NewReader(snap))
	}
	var b bytes.Buffer
	if err := writeBackupFile(&b, m, rs); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "b.srbak")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, b.Bytes()
}

func TestVerifyBackup(t *testing.T) {
	path, data := writeTestBackup(t)
	vb, err := verifyBackup(path)
	if err != nil {
		t.Fatalf("a good file: %v", err)
	}
	if vb.Manifest.Groups != 2 || vb.Manifest.Snapshots[1].Index != 9 || len(vb.offsets) != 2 {
		t.Fatalf("manifest read back as %+v", vb.Manifest)
	}
	// Each group's bytes are where offsets say.
	for i, g := range vb.Manifest.Snapshots {
		sum := sha256.Sum256(data[vb.offsets[i] : vb.offsets[i]+g.Bytes])
		if hex.EncodeToString(sum[:]) != g.SHA256 {
			t.Fatalf("group %d is not at offset %d", i, vb.offsets[i])
		}
	}

	bad := func(name string, b []byte) {
		t.Helper()
		p := filepath.Join(t.TempDir(), "bad.srbak")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := verifyBackup(p); !errors.Is(err, errBadBackup) {
			t.Errorf("%s: verify answered %v, want errBadBackup", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	flip := func(off int) []byte {
		b := bytes.Clone(data)
		b[off] ^= 0x10
		return b
	}
	bad("magic", flip(1))
	bad("manifest", flip(len(backupMagic)+4+10))
	bad("group 0 snapshot", flip(int(vb.offsets[0])+8))
	bad("group 1 snapshot", flip(int(vb.offsets[1])+len(data[vb.offsets[1]:])/2-16))
	bad("trailer", flip(len(data)-1))
	bad("truncated", data[:len(data)-40])
	bad("appended", append(bytes.Clone(data), 0))
	bad("empty", nil)
}

// FuzzVerifyBackup: any bytes are refused with errBadBackup or accepted,
// never a panic or an unbounded allocation.
func FuzzVerifyBackup(f *testing.F) {
	_, data := writeTestBackup(f)
	f.Add(data)
	f.Add([]byte(backupMagic + "\x00\x00\x00\x02{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "f.srbak")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := verifyBackup(p); err != nil && !errors.Is(err, errBadBackup) {
			t.Fatalf("not errBadBackup: %v", err)
		}
	})
}
