package wire

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// DefaultVNodes is the number of virtual nodes each group gets on the ring.
// 128 keeps the load spread within a few percent for small group counts while
// the ring for 64 groups still fits in a few cache lines per lookup.
const DefaultVNodes = 128

// Ring maps keys to group ids by consistent hashing with virtual nodes.
// It is immutable after NewRing and safe for concurrent use.
type Ring struct {
	points []uint64 // sorted hash points
	owner  []int    // owner[i] is the group of points[i]
	groups int
}

// NewRing builds a ring over groups 0..groups-1 with vnodes points per group.
func NewRing(groups, vnodes int) (*Ring, error) {
	if groups < 1 || groups > 1024 {
		return nil, fmt.Errorf("wire: group count %d out of range 1..1024", groups)
	}
	if vnodes < 1 || vnodes > 4096 {
		return nil, fmt.Errorf("wire: vnode count %d out of range 1..4096", vnodes)
	}
	type pt struct {
		h uint64
		g int
	}
	pts := make([]pt, 0, groups*vnodes)
	var buf [8]byte
	for g := 0; g < groups; g++ {
		for v := 0; v < vnodes; v++ {
			binary.BigEndian.PutUint32(buf[0:4], uint32(g))
			binary.BigEndian.PutUint32(buf[4:8], uint32(v))
			pts = append(pts, pt{h: mix64(hash64(buf[:])), g: g})
		}
	}
	// Ties (astronomically unlikely) are broken by group id so every
	// process builds the identical ring.
	sort.Slice(pts, func(i, j int) bool {
		if pts[i].h != pts[j].h {
			return pts[i].h < pts[j].h
		}
		return pts[i].g < pts[j].g
	})
	r := &Ring{points: make([]uint64, len(pts)), owner: make([]int, len(pts)), groups: groups}
	for i, p := range pts {
		r.points[i] = p.h
		r.owner[i] = p.g
	}
	return r, nil
}

// Groups returns the number of groups on the ring.
func (r *Ring) Groups() int { return r.groups }

// Group returns the group that owns key.
func (r *Ring) Group(key string) int {
	h := mix64(hash64([]byte(key)))
	i := sort.Search(len(r.points), func(i int) bool { return r.points[i] >= h })
	if i == len(r.points) {
		i = 0
	}
	return r.owner[i]
}

// hash64 is 64-bit FNV-1a. It is written out here (rather than using
// hash/fnv) to avoid an allocation per lookup on the hot path.
func hash64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// mix64 is a finaliser (from SplitMix64) that spreads FNV's weak low bits,
// so that near-identical keys land far apart on the ring.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
