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
	cmds []Command
	// The payloads of creates and sets, most of a raft log, are kept here
	// for the Create and Set pointers in cmds (their decodeView hooks,
	// cmd_create.go and cmd_set.go); other commands' are allocated.
	creates slab[Create]
	sets    slab[Set]
	fields  []Field     // fields of every command that has some, each one's sorted
	spans   []fieldSpan // per command, its range in fields
	dec     decoder     // the entry's decoder, kept here so that it need not be allocated
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
func (b *entryBuf) decode(data []byte) (int64, BatchFlags, []Command, error) {
	b.release()
	b.dec = decoder{buf: data}
	t, flags, cmds, err := decodeEntry(&b.dec, b.alloc, b.decodeCommand)
	b.dec = decoder{} // not to keep the entry alive
	return t, flags, cmds, err
}

// alloc returns n zero commands, and makes room for up to n payloads in
// each slab so that taking one never moves those already pointed to.
func (b *entryBuf) alloc(n int) []Command {
	b.cmds = slices.Grow(b.cmds[:0], n)[:n]
	b.creates.grow(n)
	b.sets.grow(n)
	b.spans = slices.Grow(b.spans[:0], n)
	return b.cmds
}

// decodeCommand is decodeCommand (codec.go) for ApplyBatch: the ReqID a
// view of the entry, each type's decodeView if it has one, and a span of
// fields for every command.
func (b *entryBuf) decodeCommand(d *decoder, c *Command) {
	lo := len(b.fields)
	if s, rest := beginPayload(d, c, true); s != nil {
		if s.decodeView != nil {
			s.decodeView(b, d, c)
		} else {
			s.decode(d, c)
		}
		endPayload(d, rest, c.Type)
	}
	b.spans = append(b.spans, fieldSpan{lo, len(b.fields)})
}

// addMapFields appends the span of c's fields for ApplyDecoded, sorted
// from its map.
func (b *entryBuf) addMapFields(c *Command) {
	lo := len(b.fields)
	if s := specOf(c.Type); s != nil && s.fields != nil && s.has(c) {
		b.fields = sortedFields(b.fields, s.fields(c))
	}
	b.spans = append(b.spans, fieldSpan{lo, len(b.fields)})
}

// release drops what b points to (the entry's bytes, the commands'
// strings) and keeps its buffers for the next entry unless they grew
// large.
func (b *entryBuf) release() {
	clear(b.cmds)
	clear(b.fields)
	b.cmds, b.fields, b.spans = b.cmds[:0], b.fields[:0], b.spans[:0]
	b.creates.reset()
	b.sets.reset()
	if cap(b.cmds) > maxKept || cap(b.fields) > maxKept {
		*b = entryBuf{}
	}
}

// slab is a buffer of payloads of one type reused from entry to entry.
type slab[T any] struct{ s []T }

// grow makes room for n payloads; next may then be called n times.
func (s *slab[T]) grow(n int) { s.s = slices.Grow(s.s[:0], n) }

// next returns a new zero payload, valid until reset.
func (s *slab[T]) next() *T {
	var zero T
	s.s = append(s.s, zero)
	return &s.s[len(s.s)-1]
}

// reset drops the payloads (and what they point to) and keeps the room.
func (s *slab[T]) reset() {
	clear(s.s)
	s.s = s.s[:0]
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
