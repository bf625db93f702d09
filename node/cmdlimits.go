package node

import (
	"fmt"

	"github.com/sessionraft/sessionraft/fsm"
)

// Limits every write passes before it is proposed, whether it came from a
// local client or was forwarded by another node (forward.go): a peer, or
// anyone who reaches the internal port, gets no more than a client.

// checkCommand refuses what the state machine would refuse anyway (its
// state-free checks), a command naming more ids than one raft entry
// should carry, and one larger than a forwarded frame may be. size is its
// encoded size (fsm.EncodedSize).
func (c *Config) checkCommand(cmd *fsm.Command, size int) error {
	if err := c.Limits.Check(cmd); err != nil {
		return err
	}
	ids := 0
	switch {
	case cmd.Destroy != nil:
		ids = len(cmd.Destroy.IDs)
	case cmd.Touch != nil:
		ids = len(cmd.Touch.IDs)
	case cmd.Expire != nil:
		ids = len(cmd.Expire.IDs)
	}
	if ids > maxIDsPerCommand {
		return fmt.Errorf("%w: %d ids in one command (limit %d)", fsm.ErrTooLarge, ids, maxIDsPerCommand)
	}
	if max := c.maxCommandBytes(); size > max {
		return fmt.Errorf("%w: command of %d bytes exceeds %d", fsm.ErrTooLarge, size, max)
	}
	return nil
}

// maxCommandBytes bounds one encoded command: room for the largest record
// twice over (a create's fields plus its framing, or a set's fields and
// the names it unsets) and a MiB for ids and options.
func (c *Config) maxCommandBytes() int {
	return 2*positiveOr(c.Limits.MaxRecordBytes, fsm.DefaultLimits().MaxRecordBytes) + 1<<20
}

// rpcFrameCap is the internal port's frame cap (mux MaxRPCBytes): the
// largest forwarded command, or the largest SESSION.LIST page a leader
// sends back (maxListBytes, overshot by at most one record, plus the
// encoding's few bytes per record), whichever is more, plus headers.
func (c *Config) rpcFrameCap() int {
	rec := positiveOr(c.Limits.MaxRecordBytes, fsm.DefaultLimits().MaxRecordBytes)
	return max(c.maxCommandBytes(), maxListBytes+2*rec+1<<20) + 1<<10
}
