package fsm

import "encoding/binary"

// Expiry says what a write does to a key's deadline. Relative times are
// applied at the batch's log time, as Create's AbsTTL is, so every replica
// computes the same deadline and the key lives exactly the duration asked
// from the moment the write takes effect (the proposing node cannot know
// the batch time). Absolute times (EXAT, PXAT, EXPIREAT) travel as they
// are. The node converts seconds and milliseconds to nanoseconds.
type Expiry struct {
	Mode  ExpiryMode
	Value int64 // ns after the batch time (ExpiryIn) or Unix ns (ExpiryAt)
}

// ExpiryMode is how an Expiry sets the deadline. The numbers are part of
// the command encodings.
type ExpiryMode uint8

const (
	// ExpiryNone leaves the key without a deadline: plain SET, GETEX
	// PERSIST, PERSIST.
	ExpiryNone ExpiryMode = 0
	// ExpiryKeep keeps the deadline the key has: SET KEEPTTL, GETEX
	// without options.
	ExpiryKeep ExpiryMode = 1
	// ExpiryIn sets the deadline to the batch time plus Value: EX, PX,
	// EXPIRE, PEXPIRE.
	ExpiryIn ExpiryMode = 2
	// ExpiryAt sets the deadline to Value: EXAT, PXAT, EXPIREAT,
	// PEXPIREAT.
	ExpiryAt ExpiryMode = 3
)

// A deadline at or before the log time (EXPIRE with 0 or a negative time,
// an EXAT in the past) removes the key as the command applies, as Redis
// does for EXPIRE and GETEX (it answers as if the write happened, and
// notifies "del").

func appendExpiry(dst []byte, e Expiry) []byte {
	dst = append(dst, byte(e.Mode))
	return binary.AppendVarint(dst, e.Value)
}

func sizeExpiry(e Expiry) int { return 1 + sizeVarint(e.Value) }

func decodeExpiry(d *decoder) Expiry {
	return Expiry{Mode: ExpiryMode(d.u8()), Value: d.varint()}
}

// check refuses an unknown mode and a relative time beyond the end of
// time at t. Any absolute time is valid: one in the past removes the key.
func (e Expiry) check(t int64) error {
	switch e.Mode {
	case ExpiryNone, ExpiryKeep, ExpiryAt:
		return nil
	case ExpiryIn:
		if overflows(max(t, 0), e.Value) {
			return errf(ErrInvalid, "timeout beyond the end of time")
		}
		return nil
	}
	return errf(ErrInvalid, "expiry mode %d", e.Mode)
}

// deadline returns the absolute deadline e gives at log time t to a key
// whose deadline is cur (0: none), and whether that deadline has passed
// (the write removes the key). e has passed check.
func (e Expiry) deadline(t, cur int64) (d int64, past bool) {
	switch e.Mode {
	case ExpiryKeep:
		d = cur
	case ExpiryIn:
		if e.Value <= 0 {
			return t, true
		}
		d = t + e.Value
	case ExpiryAt:
		d = e.Value
	default:
		return 0, false
	}
	if d != 0 && d <= t {
		return min(d, t), true
	}
	return d, false
}

// Cond is the condition of an EXPIRE (NX, XX, GT, LT; XX may go with GT
// or LT) or of a SET or RENAME (NX, XX). A bit set, part of the command
// encodings.
type Cond uint8

const (
	CondNX Cond = 1 << iota // only if the key (or, for EXPIRE, its deadline) does not exist
	CondXX                  // only if it exists
	CondGT                  // EXPIRE: only if the new deadline is later; none counts as infinite
	CondLT                  // EXPIRE: only if the new deadline is earlier; none counts as infinite
)

// check refuses combinations Redis refuses ("NX and XX, GT or LT options
// at the same time are not compatible", "GT and LT options at the same
// time are not compatible"); allowed limits the bits a command accepts.
func (c Cond) check(allowed Cond) error {
	switch {
	case c&^allowed != 0:
		return errf(ErrInvalid, "condition %#x", uint8(c))
	case c&CondNX != 0 && c != CondNX:
		return errf(ErrInvalid, "NX with XX, GT or LT")
	case c&CondGT != 0 && c&CondLT != 0:
		return errf(ErrInvalid, "GT with LT")
	}
	return nil
}

// expireAllowed applies EXPIRE's condition: cur is the key's deadline (0:
// none, which GT and LT count as infinite), d the new one.
func (c Cond) expireAllowed(cur, d int64) bool {
	switch {
	case c&CondNX != 0 && cur != 0:
		return false
	case c&CondXX != 0 && cur == 0:
		return false
	case c&CondGT != 0 && (cur == 0 || d <= cur):
		return false
	case c&CondLT != 0 && cur != 0 && d >= cur:
		return false
	}
	return true
}
