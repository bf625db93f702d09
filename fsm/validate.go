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
// the state (empty or oversized ids, bad TTLs, oversized fields). A nil
// result does not promise Apply will succeed.
func (l Limits) Check(c *Command) error {
	l = l.withDefaults()
	if len(c.ReqID) > l.MaxReqIDLen {
		return errf(ErrTooLarge, "request id length %d exceeds %d", len(c.ReqID), l.MaxReqIDLen)
	}
	switch c.Type {
	case CmdCreate:
		if c.Create == nil {
			return errMissing(c.Type)
		}
		// Sessions have few fields: sort them on the stack.
		var small [8]Field
		return l.checkCreate(c.Create, sortedFields(small[:0], c.Create.Fields), 0)
	case CmdSet:
		if c.Set == nil {
			return errMissing(c.Type)
		}
		var small [8]Field
		return l.checkSet(c.Set, sortedFields(small[:0], c.Set.Fields), 0)
	case CmdTouch:
		if c.Touch == nil {
			return errMissing(c.Type)
		}
		return checkTouch(c.Touch)
	case CmdRotate:
		if c.Rotate == nil {
			return errMissing(c.Type)
		}
		return l.checkRotate(c.Rotate)
	case CmdRevoke:
		if c.Revoke == nil {
			return errMissing(c.Type)
		}
		return checkRevoke(c.Revoke)
	case CmdDestroy:
		if c.Destroy == nil {
			return errMissing(c.Type)
		}
	case CmdExpire:
		if c.Expire == nil {
			return errMissing(c.Type)
		}
	default:
		return errf(ErrUnknownCmd, "command type %d", c.Type)
	}
	return nil
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

// checkCreate validates c for a create at log time t. fs is c's fields,
// sorted by name: Fields when c was built by a caller, or the fields of
// the raft entry when ApplyBatch decoded c (entrybuf.go).
func (l *Limits) checkCreate(c *Create, fs []Field, t int64) error {
	if err := l.checkID("id", c.ID); err != nil {
		return err
	}
	if len(c.Subject) > l.MaxSubjectLen {
		return errf(ErrTooLarge, "subject length %d exceeds %d", len(c.Subject), l.MaxSubjectLen)
	}
	if c.IdleTimeout < 0 {
		return errf(ErrInvalid, "negative idle timeout %d", c.IdleTimeout)
	}
	if c.AbsTTL < 0 {
		return errf(ErrInvalid, "negative ttl %d", c.AbsTTL)
	}
	if overflows(t, c.IdleTimeout) || overflows(t, c.AbsTTL) {
		return errf(ErrInvalid, "timeout beyond the end of time")
	}
	if len(fs) > l.MaxFields {
		return errf(ErrTooLarge, "%d fields exceed %d", len(fs), l.MaxFields)
	}
	if err := l.checkFields(fs); err != nil {
		return err
	}
	if size := len(c.ID) + len(c.Subject) + listSize(fs); size > l.MaxRecordBytes {
		return errf(ErrTooLarge, "record size %d exceeds %d", size, l.MaxRecordBytes)
	}
	return nil
}

// overflows reports whether t+d exceeds int64.
func overflows(t, d int64) bool { return t > 0 && d > math.MaxInt64-t }

// checkSet validates s at log time t; fs is its fields as for checkCreate.
func (l *Limits) checkSet(s *Set, fs []Field, t int64) error {
	if err := l.checkID("id", s.ID); err != nil {
		return err
	}
	if s.AbsTTL < 0 {
		return errf(ErrInvalid, "negative ttl %d", s.AbsTTL)
	}
	if overflows(t, s.AbsTTL) {
		return errf(ErrInvalid, "timeout beyond the end of time")
	}
	return l.checkFields(fs)
}

func checkTouch(t *Touch) error {
	if len(t.IDs) != len(t.Times) {
		return errf(ErrInvalid, "touch has %d ids but %d times", len(t.IDs), len(t.Times))
	}
	return nil
}

func (l *Limits) checkRotate(r *Rotate) error {
	if err := l.checkID("old id", r.OldID); err != nil {
		return err
	}
	if err := l.checkID("new id", r.NewID); err != nil {
		return err
	}
	if r.OldID == r.NewID {
		return errf(ErrInvalid, "rotate to the same id")
	}
	return nil
}

func checkRevoke(r *Revoke) error {
	if r.Subject == "" {
		return errf(ErrInvalid, "revoke without a subject")
	}
	return nil
}

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
