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
//	byte CmdBatch, byte EnvelopeFlagsVersion, varint Time, uvarint Flags, uvarint len(Cmds), Cmds...
//
// (the second when Flags is not zero)
//
// Layout of one command (inside a batch or alone, see AppendCommand):
//
//	byte Type, byte version, uvarint len(payload), payload
//	payload: string ReqID, then the type's body (its cmd_<name>.go)
//
// The payload is length-prefixed so that a command of an unknown but
// ignorable type can be skipped without understanding it.

// EncodeBatch encodes b as one raft log entry. A command whose Type is known
// but whose matching pointer is nil encodes as the zero value of that
// command (which Apply rejects as invalid).
func EncodeBatch(b *Batch) []byte {
	return EncodeCommands(b.Time, b.Flags, len(b.Cmds), func(i int) *Command { return &b.Cmds[i] })
}

// EncodeCommands is EncodeBatch of a batch of time t, flags and the n
// commands cmd(0) .. cmd(n-1), for a caller that holds its commands
// elsewhere than in one slice (the batcher's proposals point to them):
// it saves copying each into a Batch first. cmd is called twice per
// command, to size the entry and to encode it.
func EncodeCommands(t int64, flags BatchFlags, n int, cmd func(i int) *Command) []byte {
	dst := make([]byte, 0, commandsSizeHint(n, cmd))
	if flags == 0 {
		dst = append(dst, byte(CmdBatch), EnvelopeVersion)
		dst = binary.AppendVarint(dst, t)
	} else {
		dst = append(dst, byte(CmdBatch), EnvelopeFlagsVersion)
		dst = binary.AppendVarint(dst, t)
		dst = binary.AppendUvarint(dst, uint64(flags))
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	for i := range n {
		dst = AppendCommand(dst, cmd(i))
	}
	return dst
}

// batchSizeHint is at least the encoded size of b, so that EncodeBatch
// allocates once.
func batchSizeHint(b *Batch) int {
	return commandsSizeHint(len(b.Cmds), func(i int) *Command { return &b.Cmds[i] })
}

// commandsSizeHint is batchSizeHint for EncodeCommands.
func commandsSizeHint(n int, cmd func(i int) *Command) int {
	size := 2 + 3*binary.MaxVarintLen64 // type, version, Time, Flags, n
	for i := range n {
		size += EncodedSize(cmd(i))
	}
	return size
}

// EncodedSize returns the number of bytes AppendCommand appends for c,
// which is also what c adds to an entry of EncodeBatch. The node bounds
// its batches with it.
func EncodedSize(c *Command) int {
	n := 0 // payload
	if s := specOf(c.Type); s != nil {
		n = sizeString(c.ReqID) + s.size(c)
	}
	return 2 + sizeUvarint(uint64(n)) + n
}

// AppendCommand appends one command in the same format it has inside a
// batch; the node uses it to forward a command to its group's leader. A
// command of an unknown type is written with an empty payload.
func AppendCommand(dst []byte, c *Command) []byte {
	dst = append(dst, byte(c.Type), cmdVersion)
	s := specOf(c.Type)
	if s == nil {
		return append(dst, 0) // the payload's length
	}
	return appendFramed(dst, func(dst []byte) []byte {
		dst = appendString(dst, c.ReqID)
		return s.encode(dst, c)
	})
}

// DecodeBatch decodes a raft entry written by EncodeBatch. Errors wrap
// ErrCorrupt (malformed bytes) or ErrUnknownCmd (a command type or version
// this binary does not know and that is not marked ignorable). A command
// of an unknown ignorable type decodes as a Command with only Type set.
func DecodeBatch(data []byte) (*Batch, error) {
	t, flags, cmds, err := decodeEntry(&decoder{buf: data}, func(n int) []Command { return make([]Command, n) }, decodeCommand)
	if err != nil {
		return nil, err
	}
	return &Batch{Time: t, Flags: flags, Cmds: cmds}, nil
}

// decodeEntry reads a raft entry, d's input: its envelope, then each
// command with one into the next element of alloc(n), which must return n
// zero Commands. DecodeBatch and ApplyBatch (entrybuf.go) share it, so
// they accept the same entries and fail with the same errors. The caller
// owns d because one, a func value, makes whatever it is handed escape:
// ApplyBatch's decoder lives in its entryBuf rather than in a new heap
// allocation per entry.
func decodeEntry(d *decoder, alloc func(n int) []Command, one func(*decoder, *Command)) (int64, BatchFlags, []Command, error) {
	typ, ver := CmdType(d.u8()), d.u8()
	if d.err != nil {
		return 0, 0, nil, d.err
	}
	if typ != CmdBatch {
		return 0, 0, nil, fmt.Errorf("%w: entry type %d", ErrUnknownCmd, typ)
	}
	if ver != EnvelopeVersion && ver != EnvelopeFlagsVersion {
		return 0, 0, nil, fmt.Errorf("%w: envelope version %d", ErrUnknownCmd, ver)
	}
	t := d.varint()
	var flags BatchFlags
	if ver == EnvelopeFlagsVersion {
		flags = BatchFlags(d.uvarint())
		if d.err == nil && flags&^knownFlags != 0 {
			// A flag changes how the entry applies: one this binary does
			// not know cannot be ignored without diverging.
			return 0, 0, nil, fmt.Errorf("%w: batch flags %#x", ErrUnknownCmd, uint64(flags))
		}
	}
	var cmds []Command
	// Each command takes at least 3 bytes (type, version, length).
	if n := d.count(3); n > 0 {
		cmds = alloc(n)
		for i := range cmds {
			one(d, &cmds[i])
		}
	}
	if err := d.finish(); err != nil {
		return 0, 0, nil, err
	}
	return t, flags, cmds, nil
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

// decodeCommand reads one command into c with its type's decode.
func decodeCommand(d *decoder, c *Command) {
	s, rest := beginPayload(d, c, false)
	if s == nil {
		return
	}
	s.decode(d, c)
	endPayload(d, rest, c.Type)
}

// beginPayload reads a command's header and ReqID into c and narrows d to
// the rest of its payload: the body, for the type's decoder to read. With
// view the ReqID is a view of the input (decoder.view), for ApplyBatch:
// the dedup table copies the ReqIDs it keeps, and nothing else does.
// endPayload, given rest, moves d past the payload. s is nil when there
// is no body to read: d failed, or the type is unknown (d fails unless it
// is ignorable). One decoder serves the entry and every command in it, so
// that handing it to the decode hooks costs no allocation per command.
func beginPayload(d *decoder, c *Command, view bool) (s *cmdSpec, rest []byte) {
	typ, ver := CmdType(d.u8()), d.u8()
	payload := d.raw(d.length())
	if d.err != nil {
		return nil, nil
	}
	c.Type = typ
	s = specOf(typ)
	if s == nil {
		if typ&IgnorableFlag == 0 {
			d.fail(fmt.Errorf("%w: command type %d", ErrUnknownCmd, typ))
		}
		return nil, nil
	}
	if ver != cmdVersion {
		d.fail(fmt.Errorf("%w: command type %d version %d", ErrUnknownCmd, typ, ver))
		return nil, nil
	}
	rest, d.buf = d.buf, payload
	if view {
		c.ReqID = d.view()
	} else {
		c.ReqID = d.str()
	}
	return s, rest
}

// endPayload fails d if the payload was malformed or not read to its end,
// naming the command's type, and otherwise moves d on to rest.
func endPayload(d *decoder, rest []byte, typ CmdType) {
	if err := d.finish(); err != nil {
		d.err = fmt.Errorf("command type %d: %w", typ, err)
		d.buf = nil
		return
	}
	d.buf = rest
}
