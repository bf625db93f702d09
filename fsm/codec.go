package fsm

import (
	"encoding/binary"
	"fmt"
)

// cmdVersion is the payload format version of every command type defined
// here. A known type with another version is treated like an unknown type:
// it was written by newer code whose meaning this binary cannot know.
const cmdVersion = 1

// Layout of a raft entry:
//
//	byte CmdBatch, byte EnvelopeVersion, varint Time, uvarint len(Cmds), Cmds...
//
// Layout of one command (inside a batch or alone, see AppendCommand):
//
//	byte Type, byte version, uvarint len(payload), payload
//	payload: string ReqID, then the type's body
//
// The payload is length-prefixed so that a command of an unknown but
// ignorable type can be skipped without understanding it.

// EncodeBatch encodes b as one raft log entry. A command whose Type is known
// but whose matching pointer is nil encodes as the zero value of that
// command (which Apply rejects as invalid).
func EncodeBatch(b *Batch) []byte {
	dst := make([]byte, 0, batchSizeHint(b))
	dst = append(dst, byte(CmdBatch), EnvelopeVersion)
	dst = binary.AppendVarint(dst, b.Time)
	dst = binary.AppendUvarint(dst, uint64(len(b.Cmds)))
	for i := range b.Cmds {
		dst = AppendCommand(dst, &b.Cmds[i])
	}
	return dst
}

// batchSizeHint estimates the encoded size so EncodeBatch usually
// allocates once.
func batchSizeHint(b *Batch) int {
	n := 16
	for i := range b.Cmds {
		c := &b.Cmds[i]
		n += 8 + len(c.ReqID)
		switch {
		case c.Create != nil:
			n += 24 + len(c.Create.ID) + len(c.Create.Subject) + fieldsSize(c.Create.Fields)
		case c.Set != nil:
			n += 16 + len(c.Set.ID) + fieldsSize(c.Set.Fields) + 4*len(c.Set.Unset)
		case c.Touch != nil:
			n += 48 * len(c.Touch.IDs)
		default:
			n += 64
		}
	}
	return n
}

func fieldsSize(m map[string][]byte) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v) + 4
	}
	return n
}

// AppendCommand appends one command in the same format it has inside a
// batch; the node uses it to forward a command to its group's leader. A
// command of an unknown type is written with an empty payload.
func AppendCommand(dst []byte, c *Command) []byte {
	dst = append(dst, byte(c.Type), cmdVersion)
	return appendFramed(dst, func(dst []byte) []byte {
		if !knownCmd(c.Type) {
			return dst
		}
		dst = appendString(dst, c.ReqID)
		return appendCommandBody(dst, c)
	})
}

func appendCommandBody(dst []byte, c *Command) []byte {
	switch c.Type {
	case CmdCreate:
		x := deref(c.Create)
		dst = appendString(dst, x.ID)
		dst = appendString(dst, x.Subject)
		dst = appendFields(dst, x.Fields)
		dst = binary.AppendVarint(dst, x.IdleTimeout)
		dst = binary.AppendVarint(dst, x.AbsTTL)
	case CmdSet:
		x := deref(c.Set)
		dst = appendString(dst, x.ID)
		dst = binary.AppendUvarint(dst, x.IfVersion)
		dst = appendFields(dst, x.Fields)
		dst = appendStrings(dst, x.Unset)
		dst = binary.AppendVarint(dst, x.AbsTTL)
	case CmdTouch:
		x := deref(c.Touch)
		dst = appendStrings(dst, x.IDs)
		// Times is written as its own list, so a length mismatch survives
		// the trip and Apply can reject it instead of guessing.
		dst = binary.AppendUvarint(dst, uint64(len(x.Times)))
		for _, t := range x.Times {
			dst = binary.AppendVarint(dst, t)
		}
	case CmdDestroy:
		dst = appendStrings(dst, deref(c.Destroy).IDs)
	case CmdRotate:
		x := deref(c.Rotate)
		dst = appendString(dst, x.OldID)
		dst = appendString(dst, x.NewID)
		dst = binary.AppendUvarint(dst, x.IfVersion)
	case CmdRevoke:
		x := deref(c.Revoke)
		dst = appendString(dst, x.Subject)
		dst = appendString(dst, x.Except)
	case CmdExpire:
		dst = appendStrings(dst, deref(c.Expire).IDs)
	}
	return dst
}

func deref[T any](p *T) *T {
	if p == nil {
		return new(T)
	}
	return p
}

// knownCmd reports whether t is a command type this package can apply.
// CmdBatch is an envelope, not a command.
func knownCmd(t CmdType) bool {
	return t >= CmdCreate && t <= CmdExpire
}

// DecodeBatch decodes a raft entry written by EncodeBatch. Errors wrap
// ErrCorrupt (malformed bytes) or ErrUnknownCmd (a command type or version
// this binary does not know and that is not marked ignorable). A command
// of an unknown ignorable type decodes as a Command with only Type set.
func DecodeBatch(data []byte) (*Batch, error) {
	t, cmds, err := decodeEntry(data, func(n int) []Command { return make([]Command, n) }, decodeCommand)
	if err != nil {
		return nil, err
	}
	return &Batch{Time: t, Cmds: cmds}, nil
}

// decodeEntry reads a raft entry: its envelope, then each command with one
// into the next element of alloc(n), which must return n zero Commands.
// DecodeBatch and ApplyBatch (entrybuf.go) share it, so they accept the
// same entries and fail with the same errors.
func decodeEntry(data []byte, alloc func(n int) []Command, one func(*decoder, *Command)) (int64, []Command, error) {
	d := decoder{buf: data}
	typ, ver := CmdType(d.u8()), d.u8()
	if d.err != nil {
		return 0, nil, d.err
	}
	if typ != CmdBatch {
		return 0, nil, fmt.Errorf("%w: entry type %d", ErrUnknownCmd, typ)
	}
	if ver != EnvelopeVersion {
		return 0, nil, fmt.Errorf("%w: envelope version %d", ErrUnknownCmd, ver)
	}
	t := d.varint()
	var cmds []Command
	// Each command takes at least 3 bytes (type, version, length).
	if n := d.count(3); n > 0 {
		cmds = alloc(n)
		for i := range cmds {
			one(&d, &cmds[i])
		}
	}
	if err := d.finish(); err != nil {
		return 0, nil, err
	}
	return t, cmds, nil
}

// DecodeCommand decodes one command written by AppendCommand; data must hold
// exactly one command. Unknown types behave as in DecodeBatch.
func DecodeCommand(data []byte) (*Command, error) {
	d := decoder{buf: data}
	c := new(Command)
	decodeCommand(&d, c)
	if err := d.finish(); err != nil {
		return nil, err
	}
	return c, nil
}

func decodeCommand(d *decoder, c *Command) {
	p, ok := commandPayload(d, c)
	if !ok {
		return
	}
	switch c.Type {
	case CmdCreate:
		c.Create = &Create{
			ID:          p.str(),
			Subject:     p.str(),
			Fields:      p.fields(),
			IdleTimeout: p.varint(),
			AbsTTL:      p.varint(),
		}
	case CmdSet:
		c.Set = &Set{
			ID:        p.str(),
			IfVersion: p.uvarint(),
			Fields:    p.fields(),
			Unset:     p.strs(),
			AbsTTL:    p.varint(),
		}
	default:
		decodeOther(&p, c)
	}
	endPayload(d, &p, c.Type)
}

// commandPayload reads a command's header and ReqID into c and returns a
// decoder over the rest of its payload. ok is false when there is no body
// to read: d failed, or the type is unknown (d fails unless it is
// ignorable).
func commandPayload(d *decoder, c *Command) (p decoder, ok bool) {
	typ, ver := CmdType(d.u8()), d.u8()
	payload := d.raw(d.length())
	if d.err != nil {
		return p, false
	}
	c.Type = typ
	if !knownCmd(typ) {
		if typ&IgnorableFlag == 0 {
			d.fail(fmt.Errorf("%w: command type %d", ErrUnknownCmd, typ))
		}
		return p, false
	}
	if ver != cmdVersion {
		d.fail(fmt.Errorf("%w: command type %d version %d", ErrUnknownCmd, typ, ver))
		return p, false
	}
	p = decoder{buf: payload}
	c.ReqID = p.str()
	return p, true
}

// decodeOther reads the body of a command that is neither a create nor a
// set.
func decodeOther(p *decoder, c *Command) {
	switch c.Type {
	case CmdTouch:
		x := &Touch{IDs: p.strs()}
		if n := p.count(1); n > 0 {
			x.Times = make([]int64, n)
			for i := range x.Times {
				x.Times[i] = p.varint()
			}
		}
		c.Touch = x
	case CmdDestroy:
		c.Destroy = &Destroy{IDs: p.strs()}
	case CmdRotate:
		c.Rotate = &Rotate{OldID: p.str(), NewID: p.str(), IfVersion: p.uvarint()}
	case CmdRevoke:
		c.Revoke = &Revoke{Subject: p.str(), Except: p.str()}
	case CmdExpire:
		c.Expire = &Expire{IDs: p.strs()}
	}
}

// endPayload fails d if the payload p was malformed or not read to its end.
func endPayload(d, p *decoder, typ CmdType) {
	if err := p.finish(); err != nil {
		d.fail(fmt.Errorf("command type %d: %w", typ, err))
	}
}
