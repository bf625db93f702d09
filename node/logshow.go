package node

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/node/raftwal"
)

// Reading a stopped node's raft log, for `sessionraft log show`: what an
// operator needs when a node stopped at an entry it cannot apply
// (PoisonedEntryError).

// LogEntry is one raft log entry read from a node's data directory.
type LogEntry struct {
	Group       int
	Index, Term uint64
	Type        string // raft's entry type: LogCommand, LogConfiguration, ...
	AppendedAt  time.Time
	Data        []byte
	// First and Last are the indexes the group's log holds.
	First, Last uint64
}

// ReadLogEntry reads entry index of group from the data directory of a
// stopped node. A running node holds the group's raft.db lock and is
// refused, rather than read while it writes.
func ReadLogEntry(dataDir string, group int, index uint64) (*LogEntry, error) {
	dir := filepath.Join(dataDir, strconv.Itoa(group))
	if _, err := os.Stat(filepath.Join(dir, "raft.db")); err != nil {
		return nil, fmt.Errorf("group %d: no raft data in %s: %w", group, dir, err)
	}
	// raft.db only serves as the lock here: a node that runs has it open.
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(dir, "raft.db"),
		BoltOptions: &bbolt.Options{ReadOnly: true, Timeout: time.Second},
	})
	if err != nil {
		return nil, fmt.Errorf("group %d: open %s (is the node still running? stop it first): %w", group, dir, err)
	}
	defer bolt.Close()
	var logs raft.LogStore = bolt
	if _, err := os.Stat(filepath.Join(dir, "wal")); err == nil {
		// The WAL cuts a torn tail off its last segment when it opens: the
		// node would do the same at its next start.
		wal, err := raftwal.Open(filepath.Join(dir, "wal"), raftwal.Options{NoSync: true})
		if err != nil {
			return nil, fmt.Errorf("group %d: open raft log: %w", group, err)
		}
		defer wal.Close()
		logs = wal
	}
	e := &LogEntry{Group: group, Index: index}
	e.First, _ = logs.FirstIndex()
	e.Last, _ = logs.LastIndex()
	var l raft.Log
	if err := logs.GetLog(index, &l); err != nil {
		if errors.Is(err, raft.ErrLogNotFound) {
			return e, fmt.Errorf("group %d: no log entry %d (the log holds %d..%d; older entries are in a snapshot)", group, index, e.First, e.Last)
		}
		return e, fmt.Errorf("group %d: read log entry %d: %w", group, index, err)
	}
	e.Term, e.Type, e.AppendedAt, e.Data = l.Term, l.Type.String(), l.AppendedAt, l.Data
	return e, nil
}

// Describe writes what the entry holds, one line per fact. Session ids,
// subjects and request ids are shortened and field values shown only by
// size (the redaction rules of the logs), unless secrets is set. It returns
// the error that stops the entry from decoding, if any: the caller then
// shows the raw bytes.
func (e *LogEntry) Describe(w io.Writer, secrets bool) error {
	show := redact
	if secrets {
		show = func(s string) string { return s }
	}
	fmt.Fprintf(w, "group %d, index %d, term %d, %s, %d bytes", e.Group, e.Index, e.Term, e.Type, len(e.Data))
	if !e.AppendedAt.IsZero() {
		fmt.Fprintf(w, ", appended %s", e.AppendedAt.UTC().Format(time.RFC3339Nano))
	}
	fmt.Fprintf(w, " (log holds %d..%d)\n", e.First, e.Last)
	if e.Type != raft.LogCommand.String() {
		if e.Type == raft.LogConfiguration.String() {
			cfg := raft.DecodeConfiguration(e.Data)
			for _, s := range cfg.Servers {
				fmt.Fprintf(w, "  server %s at %s (%s)\n", s.ID, s.Address, s.Suffrage)
			}
		}
		return nil
	}
	if len(e.Data) > 0 && fsm.CmdType(e.Data[0]) != fsm.CmdBatch && fsm.CmdType(e.Data[0])&fsm.IgnorableFlag != 0 {
		fmt.Fprintf(w, "  an ignorable entry of type %d (skipped by this version)\n", e.Data[0])
		return nil
	}
	b, err := fsm.DecodeBatch(e.Data)
	if err != nil {
		fmt.Fprintf(w, "  cannot decode: %v\n", err)
		return err
	}
	fmt.Fprintf(w, "  batch stamped %s, %d command(s)\n", time.Unix(0, b.Time).UTC().Format(time.RFC3339Nano), len(b.Cmds))
	for i := range b.Cmds {
		fmt.Fprintf(w, "  %d: %s\n", i, describeCommand(&b.Cmds[i], show, secrets))
	}
	return nil
}

// describeCommand is one command on one line, with ids, subjects and
// request ids passed through show; field values are quoted with secrets,
// else only their sizes are shown.
func describeCommand(c *fsm.Command, show func(string) string, secrets bool) string {
	s := c.Type.String()
	if c.ReqID != "" {
		s += " reqid=" + show(c.ReqID)
	}
	ids := func(list []string) string {
		out := ""
		for i, id := range list {
			if i == 8 {
				return out + fmt.Sprintf(" ... (%d in all)", len(list))
			}
			out += " " + show(id)
		}
		return out
	}
	fields := func(m map[string][]byte) string {
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		out := ""
		for _, k := range names {
			v := fmt.Sprintf("<%d bytes>", len(m[k]))
			if secrets {
				v = strconv.Quote(string(m[k]))
			}
			out += fmt.Sprintf(" %s=%s", k, v)
		}
		return out
	}
	switch {
	case c.Create != nil:
		s += fmt.Sprintf(" id=%s subject=%s idle=%v ttl=%v fields:%s", show(c.Create.ID), show(c.Create.Subject),
			time.Duration(c.Create.IdleTimeout), time.Duration(c.Create.AbsTTL), fields(c.Create.Fields))
	case c.Set != nil:
		s += fmt.Sprintf(" id=%s ifversion=%d ttl=%v set:%s unset:%v", show(c.Set.ID), c.Set.IfVersion,
			time.Duration(c.Set.AbsTTL), fields(c.Set.Fields), c.Set.Unset)
	case c.Touch != nil:
		s += " ids:" + ids(c.Touch.IDs)
	case c.Destroy != nil:
		s += " ids:" + ids(c.Destroy.IDs)
	case c.Expire != nil:
		s += " ids:" + ids(c.Expire.IDs)
	case c.Rotate != nil:
		s += fmt.Sprintf(" old=%s new=%s ifversion=%d", show(c.Rotate.OldID), show(c.Rotate.NewID), c.Rotate.IfVersion)
	case c.Revoke != nil:
		s += fmt.Sprintf(" subject=%s except=%s", show(c.Revoke.Subject), show(c.Revoke.Except))
	}
	return s
}
