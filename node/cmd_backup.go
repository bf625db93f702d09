package node

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/sessionraft/sessionraft/transport/resp"
)

// The backup commands BACKUP.OPEN, BACKUP.READ and BACKUP.CLOSE (see
// backup.go). OPEN must reach the group's leader: it is never forwarded,
// because the snapshot would then be streamed through this node; it
// answers NOTLEADER and the client follows TOPOLOGY instead.

// backupOpen answers BACKUP.OPEN group with a map: handle, group, index,
// term, bytes, sha256.
func (h *handler) backupOpen(ctx context.Context, args [][]byte, r *resp.Reply) {
	gid, err := strconv.Atoi(string(args[1]))
	if err != nil || gid < 0 || gid >= len(h.n.groups) {
		writeErr(r, fmt.Errorf("%w: group must be 0..%d", ErrBadArg, len(h.n.groups)-1))
		return
	}
	b, err := h.n.openBackup(ctx, gid)
	if err != nil {
		writeErr(r, err)
		return
	}
	r.WriteMapLen(6)
	r.WriteBulkString("handle")
	r.WriteBulkString(b.id)
	r.WriteBulkString("group")
	r.WriteInt(int64(b.group))
	r.WriteBulkString("index")
	r.WriteInt(int64(b.index))
	r.WriteBulkString("term")
	r.WriteInt(int64(b.term))
	r.WriteBulkString("bytes")
	r.WriteInt(b.size)
	r.WriteBulkString("sha256")
	r.WriteBulkString(hex.EncodeToString(b.sum[:]))
}

// backupRead answers BACKUP.READ handle offset count with up to count
// bytes (at most maxBackupChunk) from offset; an empty string at the end.
func (h *handler) backupRead(ctx context.Context, args [][]byte, r *resp.Reply) {
	off, err1 := strconv.ParseInt(string(args[2]), 10, 64)
	n, err2 := strconv.Atoi(string(args[3]))
	if err1 != nil || err2 != nil || n <= 0 || n > maxBackupChunk {
		writeErr(r, fmt.Errorf("%w: syntax: BACKUP.READ handle offset count (count 1..%d)", ErrBadArg, maxBackupChunk))
		return
	}
	buf, err := h.n.backups.read(string(args[1]), off, n)
	if err != nil {
		writeErr(r, err)
		return
	}
	r.WriteBulk(buf)
}

// backupClose answers BACKUP.CLOSE handle with 1 if it was open, else 0.
func (h *handler) backupClose(q request) {
	if h.n.backups.close(string(q.args[1])) {
		q.r.WriteInt(1)
		return
	}
	q.r.WriteInt(0)
}
