package raftwal

import "fmt"

// loc is where an entry's record lives: its offset in the segment and its
// size, header included, so reads can verify the checksum.
type loc struct {
	seg *segment
	off int64
	n   int
}

// index is the in-memory map from raft index to location: entries
// first..last are locs[0..]. Opening and the write paths change it through
// the same two methods, so a replayed log ends in the state the live one
// had.
type index struct {
	first, last uint64 // 0, 0 when empty
	locs        []loc
}

func (x *index) empty() bool { return len(x.locs) == 0 }

// add appends entry i. An empty log accepts any index (after a snapshot
// install raft empties the log and continues after the snapshot).
func (x *index) add(i uint64, l loc) error {
	switch {
	case x.empty():
		x.first = i
	case i != x.last+1:
		return fmt.Errorf("%w: index %d after %d", ErrNotContiguous, i, x.last)
	}
	x.last = i
	x.locs = append(x.locs, l)
	return nil
}

// checkDelete reports whether deleting min..max is supported: a prefix, a
// suffix, everything, or nothing.
func (x *index) checkDelete(min, max uint64) error {
	if min > max {
		return fmt.Errorf("%w: min %d > max %d", ErrUnsupported, min, max)
	}
	if x.empty() || min > x.last || max < x.first || min <= x.first || max >= x.last {
		return nil
	}
	return fmt.Errorf("%w: %d..%d is inside %d..%d", ErrUnsupported, min, max, x.first, x.last)
}

// remove deletes min..max (checked by checkDelete).
func (x *index) remove(min, max uint64) {
	switch {
	case x.empty() || min > x.last || max < x.first:
	case min <= x.first && max >= x.last:
		x.first, x.last, x.locs = 0, 0, nil
	case min <= x.first:
		x.locs = x.locs[max+1-x.first:]
		x.first = max + 1
		if cap(x.locs) > 2*len(x.locs)+1024 {
			x.locs = append([]loc(nil), x.locs...) // let the dropped prefix go
		}
	default:
		x.locs = x.locs[:min-x.first]
		x.last = min - 1
	}
}

func (x *index) get(i uint64) (loc, bool) {
	if x.empty() || i < x.first || i > x.last {
		return loc{}, false
	}
	return x.locs[i-x.first], true
}
