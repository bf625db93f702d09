package fsm

import (
	"slices"
	"unsafe"
)

// entryBuf is a raft entry as ApplyBatch decodes it for applying. It is
// DecodeBatch's Batch (same entries accepted, same errors) with two
// differences. The fields of each create and set are a list of views of
// the entry, sorted by name, instead of a map of copies: the record's
// field list is built from them (buildFieldList copies), so the map, its
// key and value copies were garbage, about 730 of the 1,500 bytes
// allocated per create, in size classes shared with long-lived records
// and dedup entries (docs/benchmarks.md). And the commands, creates and
// sets live in buffers reused from entry to entry.
//
// The FSM owns one, under applyMu. ApplyDecoded uses its fields and spans
// too, filled from the maps of a caller's Batch.
type entryBuf struct {
	cmds    []Command
	creates []Create // what the Create pointers in cmds point to
	sets    []Set
	fields  []Field     // fields of every create and set, each one's sorted
	spans   []fieldSpan // per command, its range in fields
}

type fieldSpan struct{ lo, hi int }

// maxKept bounds the buffers kept between entries: an entry can hold
// millions of fields, and that memory should not stay behind.
const maxKept = 4096

// fieldsOf returns the fields of command i: sorted by name, views that
// are valid until release.
func (b *entryBuf) fieldsOf(i int) []Field {
	s := b.spans[i]
	return b.fields[s.lo:s.hi:s.hi]
}

// decode decodes data into b. The commands are valid until release.
func (b *entryBuf) decode(data []byte) (int64, []Command, error) {
	b.release()
	return decodeEntry(data, b.alloc, b.decodeCommand)
}

// alloc returns n zero commands, and makes room for up to n creates and
// sets so that appending them never moves the ones already pointed to.
func (b *entryBuf) alloc(n int) []Command {
	b.cmds = slices.Grow(b.cmds[:0], n)[:n]
	b.creates = slices.Grow(b.creates[:0], n)
	b.sets = slices.Grow(b.sets[:0], n)
	b.spans = slices.Grow(b.spans[:0], n)
	return b.cmds
}

// decodeCommand is decodeCommand (codec.go) for ApplyBatch, with a span
// of fields for every command.
func (b *entryBuf) decodeCommand(d *decoder, c *Command) {
	lo := len(b.fields)
	b.decodeBody(d, c)
	b.spans = append(b.spans, fieldSpan{lo, len(b.fields)})
}

func (b *entryBuf) decodeBody(d *decoder, c *Command) {
	p, ok := commandPayload(d, c)
	if !ok {
		return
	}
	switch c.Type {
	case CmdCreate:
		b.creates = append(b.creates, Create{})
		x := &b.creates[len(b.creates)-1]
		x.ID, x.Subject = p.str(), p.str()
		b.fields = p.fieldViews(b.fields)
		x.IdleTimeout, x.AbsTTL = p.varint(), p.varint()
		c.Create = x
	case CmdSet:
		b.sets = append(b.sets, Set{})
		x := &b.sets[len(b.sets)-1]
		x.ID, x.IfVersion = p.str(), p.uvarint()
		b.fields = p.fieldViews(b.fields)
		x.Unset, x.AbsTTL = p.strs(), p.varint()
		c.Set = x
	default:
		decodeOther(&p, c)
	}
	endPayload(d, &p, c.Type)
}

// addMapFields appends the span of c's fields for ApplyDecoded, sorted
// from its map.
func (b *entryBuf) addMapFields(c *Command) {
	lo := len(b.fields)
	switch {
	case c.Type == CmdCreate && c.Create != nil:
		b.fields = sortedFields(b.fields, c.Create.Fields)
	case c.Type == CmdSet && c.Set != nil:
		b.fields = sortedFields(b.fields, c.Set.Fields)
	}
	b.spans = append(b.spans, fieldSpan{lo, len(b.fields)})
}

// release drops what b points to (the entry's bytes, the commands'
// strings) and keeps its buffers for the next entry unless they grew
// large.
func (b *entryBuf) release() {
	clear(b.cmds)
	clear(b.creates)
	clear(b.sets)
	clear(b.fields)
	b.cmds, b.creates, b.sets = b.cmds[:0], b.creates[:0], b.sets[:0]
	b.fields, b.spans = b.fields[:0], b.spans[:0]
	if cap(b.cmds) > maxKept || cap(b.fields) > maxKept {
		*b = entryBuf{}
	}
}

// fieldViews reads a field list as fields does (the same bytes accepted,
// the same errors) and appends its fields to dst sorted by name. Names and
// values are views of the input, not copies, valid only while it is.
func (d *decoder) fieldViews(dst []Field) []Field {
	n := d.count(2)
	base := len(dst)
	// EncodeBatch writes names in ascending order, which rules out
	// duplicates. Only input written otherwise needs the map fields uses
	// to find them, from the first name out of order on.
	var seen map[string]struct{}
	for range n {
		name := d.raw(d.length())
		value := d.raw(d.length())
		if d.err != nil {
			return dropFrom(dst, base)
		}
		k := unsafe.String(unsafe.SliceData(name), len(name))
		if seen == nil && len(dst) > base && k <= dst[len(dst)-1].Name {
			seen = make(map[string]struct{}, n)
			for _, f := range dst[base:] {
				seen[f.Name] = struct{}{}
			}
		}
		if seen != nil {
			if _, dup := seen[k]; dup {
				d.failf("duplicate field %q", clip(k))
				return dropFrom(dst, base)
			}
			seen[k] = struct{}{}
		}
		dst = append(dst, Field{Name: k, Value: value})
	}
	if seen != nil {
		slices.SortFunc(dst[base:], cmpFields)
	}
	return dst
}

// dropFrom truncates fs to n, clearing what it drops so that it does not
// keep the input alive.
func dropFrom(fs []Field, n int) []Field {
	clear(fs[n:])
	return fs[:n]
}
