package crashfs

import (
	"slices"
	"sort"
)

// reboot builds what a reboot after a power loss now finds (see Mem); the
// caller holds mu.
func (m *Mem) reboot() *Mem {
	img := &Mem{rng: m.rng}
	copied := map[*memNode]*memNode{}
	var walk func(n *memNode) *memNode
	walk = func(n *memNode) *memNode {
		if c, ok := copied[n]; ok {
			return c
		}
		if !n.dir {
			c := &memNode{data: m.tear(n)}
			c.durable = slices.Clone(c.data)
			copied[n] = c
			return c
		}
		c := newDir()
		copied[n] = c
		names := map[string]bool{}
		for name := range n.kids {
			names[name] = true
		}
		for name := range n.durableKids {
			names[name] = true
		}
		sorted := make([]string, 0, len(names))
		for name := range names {
			sorted = append(sorted, name)
		}
		sort.Strings(sorted) // the same seed reboots the same way
		coins := map[int]bool{}
		for _, name := range sorted {
			now, then := n.kids[name], n.durableKids[name]
			k := then
			if now != then {
				id := n.change[name]
				kept, ok := coins[id]
				if !ok {
					kept = m.rng.IntN(2) == 0
					coins[id] = kept
				}
				if kept {
					k = now // the unsynced change reached the disk
				}
			}
			if k != nil {
				c.kids[name] = walk(k)
			}
		}
		c.durableKids = cloneKids(c.kids)
		return c
	}
	img.root = walk(m.root)
	return img
}

// Tear modes: what is left of a file's unsynced writes.
const (
	tearDrop    = iota // nothing
	tearKeep           // everything (kill -9)
	tearPrefix         // a prefix, cut at any byte
	tearZeros          // a prefix, then zeros up to some size (the size reached the disk before the data)
	tearSectors        // each 512-byte sector kept or zeroed, size cut anywhere
	tearModes
)

const sectorSize = 512

// tear returns what is left of file n after a power loss: its synced
// bytes, and of the writes and truncations since, what the mode chosen at
// random leaves. Torn bytes are never garbage: a disk writes a sector
// whole or not at all, and a file system shows an unwritten block as
// zeros.
func (m *Mem) tear(n *memNode) []byte {
	if len(n.pending) == 0 {
		return slices.Clone(n.durable)
	}
	mode := m.rng.IntN(tearModes)
	b := slices.Clone(n.durable)
	lo := int64(len(b)) // the synced size: no cut goes below it...
	for _, op := range n.pending {
		if op.trunc {
			if mode == tearKeep || mode != tearDrop && m.rng.IntN(2) == 0 {
				b = resize(b, op.off)
				lo = min(lo, op.off) // ...unless a truncation reached the disk
			}
			continue
		}
		end := op.off + int64(len(op.data))
		for a := op.off; a < end; {
			z := min((a/sectorSize+1)*sectorSize, end)
			keep := mode == tearKeep || mode == tearPrefix || mode == tearZeros || mode == tearSectors && m.rng.IntN(2) == 0
			switch {
			case keep:
				b = writeAt(b, a, op.data[a-op.off:z-op.off])
			case mode == tearSectors && z > int64(len(b)):
				b = resize(b, z) // the size got there, the data did not
			}
			a = z
		}
	}
	if int64(len(b)) <= lo {
		return b
	}
	cut := lo + m.rng.Int64N(int64(len(b))-lo+1)
	if m.rng.IntN(2) == 0 {
		cut = int64(len(b)) // the size reached the disk whole
	}
	switch mode {
	case tearPrefix, tearSectors:
		b = b[:cut]
	case tearZeros:
		size := cut + m.rng.Int64N(int64(len(b))-cut+1)
		b = resize(b[:cut], size)
	}
	return b
}
