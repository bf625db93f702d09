package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// Online backup, the server side (the commands are in cmd_backup.go, the
// client in cmd/sessionraft/backup.go). BACKUP.OPEN on a group's leader
// runs a linearizable barrier (so every write acknowledged before it is
// applied), captures an fsm snapshot (immutable record pointers: cheap,
// Applies go on) and serializes it into an unlinked temporary file under
// the data directory; BACKUP.READ hands it out in chunks; BACKUP.CLOSE (or
// backupIdle without a request) drops it. At most maxOpenBackups are open
// at once, so a forgetful client cannot fill the disk.
const (
	maxOpenBackups  = 4
	backupIdle      = 2 * time.Minute
	maxBackupChunk  = 4 << 20
	backupHandleLen = 16 // random bytes, hex-encoded in the handle
)

// backupRegistry holds the open backups of a node. The zero value is
// ready to use.
type backupRegistry struct {
	mu   sync.Mutex
	open map[string]*backupHandle
}

// backupHandle is one serialized group snapshot being read by a client.
type backupHandle struct {
	id     string
	group  int
	index  uint64
	term   uint64
	size   int64
	sum    [32]byte
	f      *os.File
	expiry *time.Timer

	mu     sync.Mutex // serializes reads with close
	closed bool
}

// errTooManyBackups refuses an OPEN beyond maxOpenBackups.
var errTooManyBackups = fmt.Errorf("%w: %d backups already open on this node; close or let them expire (%v idle)", ErrBusy, maxOpenBackups, backupIdle)

// openBackup captures group gid's state on this node, which must lead it,
// after a linearizable barrier.
func (n *Node) openBackup(ctx context.Context, gid int) (*backupHandle, error) {
	g, err := n.group(gid)
	if err != nil {
		return nil, err
	}
	reg := &n.backups
	reg.mu.Lock()
	full := len(reg.open) >= maxOpenBackups
	reg.mu.Unlock()
	if full {
		return nil, errTooManyBackups
	}
	// The barrier: a read index taken on the ready leader and confirmed by
	// a quorum round, then applied here. The snapshot taken after it holds
	// every write acknowledged before this request arrived.
	if err := g.readBarrier(ctx, wire.Linearizable, 0); err != nil {
		return nil, err
	}
	term := g.raft.CurrentTerm()
	snap, err := g.fsm.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("group %d: snapshot: %w", gid, err)
	}
	defer snap.Release()
	f, err := os.CreateTemp(n.cfg.DataDir, ".backup-*")
	if err != nil {
		return nil, fmt.Errorf("backup temporary file: %w", err)
	}
	// Unlinked at once: the data stays readable through f and disappears
	// with it, even if this process dies.
	_ = os.Remove(f.Name())
	h := sha256.New()
	size, err := snap.WriteTo(io.MultiWriter(f, h))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("group %d: write snapshot: %w", gid, err)
	}
	var id [backupHandleLen]byte
	if _, err := rand.Read(id[:]); err != nil {
		f.Close()
		return nil, err
	}
	b := &backupHandle{id: hex.EncodeToString(id[:]), group: gid, index: snap.AppliedIndex(), term: term, size: size, f: f}
	copy(b.sum[:], h.Sum(nil))
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if len(reg.open) >= maxOpenBackups {
		f.Close()
		return nil, errTooManyBackups
	}
	if reg.open == nil {
		reg.open = make(map[string]*backupHandle)
	}
	reg.open[b.id] = b
	b.expiry = time.AfterFunc(backupIdle, func() { reg.close(b.id) })
	n.log.Info("backup opened", "group", gid, "index", b.index, "bytes", size)
	return b, nil
}

// errNoBackup is the reply to a handle that is not (or no longer) open.
var errNoBackup = fmt.Errorf("%w: no such backup handle (closed, expired after %v idle, or opened on another node)", ErrBadArg, backupIdle)

// read returns up to max bytes of handle id's snapshot from off; an empty
// slice at the end.
func (reg *backupRegistry) read(id string, off int64, max int) ([]byte, error) {
	reg.mu.Lock()
	b := reg.open[id]
	reg.mu.Unlock()
	if b == nil {
		return nil, errNoBackup
	}
	b.expiry.Reset(backupIdle)
	if off < 0 || off > b.size {
		return nil, fmt.Errorf("%w: offset %d outside the snapshot's %d bytes", ErrBadArg, off, b.size)
	}
	max = int(min(int64(max), b.size-off))
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errNoBackup
	}
	buf := make([]byte, max)
	if _, err := b.f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read backup: %w", err)
	}
	return buf, nil
}

// close drops handle id; false if it was not open.
func (reg *backupRegistry) close(id string) bool {
	reg.mu.Lock()
	b := reg.open[id]
	delete(reg.open, id)
	reg.mu.Unlock()
	if b == nil {
		return false
	}
	b.expiry.Stop()
	b.mu.Lock()
	b.closed = true
	b.f.Close()
	b.mu.Unlock()
	return true
}

// closeAll drops every open backup (node shutdown).
func (reg *backupRegistry) closeAll() {
	reg.mu.Lock()
	ids := make([]string, 0, len(reg.open))
	for id := range reg.open {
		ids = append(ids, id)
	}
	reg.mu.Unlock()
	for _, id := range ids {
		reg.close(id)
	}
}
