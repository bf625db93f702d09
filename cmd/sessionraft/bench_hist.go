package main

import (
	"math/bits"
	"time"
)

// histogram is a small HDR-style latency histogram: exact below 128 ns,
// then 64 linear sub-buckets per power of two, so any recorded value is
// reported within 1/64 (1.6%) of itself. It is not safe for concurrent
// use: each load goroutine records into its own and they are merged at
// the end.
type histogram struct {
	counts [histBuckets]uint64
	total  uint64
	min    uint64
	max    uint64
	sum    uint64
}

const (
	histSubBits = 6                                            // 64 sub-buckets per power of two
	histLinear  = 2 << histSubBits                             // values below this are exact
	histBuckets = histLinear + (64-histSubBits-1)<<histSubBits // covers every uint64
)

// histIndex returns the bucket of v.
func histIndex(v uint64) int {
	if v < histLinear {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1 // v>>shift is in [64, 128)
	return histLinear + (shift-1)<<histSubBits + int(v>>shift) - 1<<histSubBits
}

// histUpper returns the largest value that falls in bucket i.
func histUpper(i int) uint64 {
	if i < histLinear {
		return uint64(i)
	}
	j := i - histLinear
	shift := j>>histSubBits + 1
	top := uint64(j&(1<<histSubBits-1)) + 1<<histSubBits
	return (top+1)<<shift - 1
}

// Record adds one observation.
func (h *histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[histIndex(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += v
}

// Merge adds every observation of o to h.
func (h *histogram) Merge(o *histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.total += o.total
	h.sum += o.sum
}

// Count is the number of observations.
func (h *histogram) Count() uint64 { return h.total }

// Max is the largest observation.
func (h *histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the average observation.
func (h *histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / h.total)
}

// Quantile returns the smallest recorded value v (to the histogram's
// precision, rounded up to its bucket's top) such that at least a fraction
// q of the observations are <= v. q is clamped to [0, 1]; an empty
// histogram returns 0.
func (h *histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	if q <= 0 {
		return time.Duration(h.min)
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	// rank is the 1-based position of the wanted observation.
	rank := uint64(q * float64(h.total))
	if float64(rank) < q*float64(h.total) {
		rank++
	}
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := histUpper(i)
			if v > h.max {
				v = h.max
			}
			if v < h.min {
				v = h.min
			}
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}
