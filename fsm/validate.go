package fsm

import (
	"fmt"
	"math"
)

// Validation of commands against Limits. Apply runs these checks itself
// (they are part of the state machine); the node may also call Check to
// refuse a bad command before spending a raft round on it.

// errf wraps a sentinel with a formatted detail.
func errf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}

// Check reports the errors Apply would return for c that do not depend on
// the state (empty or oversized ids, bad TTLs, oversized fields): those of
// its type's check hook (cmdtable.go). A nil result does not promise Apply
// will succeed.
func (l Limits) Check(c *Command) error {
	l = l.withDefaults()
	if len(c.ReqID) > l.MaxReqIDLen {
		return errf(ErrTooLarge, "request id length %d exceeds %d", len(c.ReqID), l.MaxReqIDLen)
	}
	s := specOf(c.Type)
	if s == nil {
		return errf(ErrUnknownCmd, "command type %d", c.Type)
	}
	if !s.has(c) {
		return errMissing(c.Type)
	}
	if s.check == nil {
		return nil
	}
	return s.check(l, c, nil, 0)
}

func errMissing(t CmdType) error {
	return errf(ErrInvalid, "command type %d without its payload", t)
}

func (l *Limits) checkID(what, id string) error {
	if id == "" {
		return errf(ErrInvalid, "empty %s", what)
	}
	if len(id) > l.MaxIDLen {
		return errf(ErrTooLarge, "%s length %d exceeds %d", what, len(id), l.MaxIDLen)
	}
	return nil
}

// overflows reports whether t+d exceeds int64.
func overflows(t, d int64) bool { return t > 0 && d > math.MaxInt64-t }

// checkFields checks field names and value sizes. fs is sorted by name,
// so the error (which is replicated via the dedup table) names the same
// field on every replica: the first offender in name order.
func (l *Limits) checkFields(fs []Field) error {
	for _, f := range fs {
		if len(f.Name) > l.MaxFieldNameLen {
			return errf(ErrTooLarge, "field name %q length %d exceeds %d", clip(f.Name), len(f.Name), l.MaxFieldNameLen)
		}
		if len(f.Value) > l.MaxValueBytes {
			return errf(ErrTooLarge, "field %q value size %d exceeds %d", clip(f.Name), len(f.Value), l.MaxValueBytes)
		}
	}
	return nil
}
