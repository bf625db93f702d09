package main

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestHistIndexMonotonicAndBounded(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<40 + 12345, math.MaxUint64} {
		i := histIndex(v)
		if i < prev || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d (prev %d, buckets %d)", v, i, prev, histBuckets)
		}
		if up := histUpper(i); up < v {
			t.Fatalf("histUpper(%d) = %d < value %d", i, up, v)
		}
		if i > 0 && histUpper(i-1) >= v {
			t.Fatalf("value %d also fits bucket %d (upper %d)", v, i-1, histUpper(i-1))
		}
		prev = i
	}
}

func TestHistPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		v := rng.Uint64N(1 << 50)
		up := histUpper(histIndex(v))
		if up < v || float64(up-v) > float64(v)/64+1 {
			t.Fatalf("value %d reported as %d: more than 1/64 off", v, up)
		}
	}
}

func TestHistQuantiles(t *testing.T) {
	var h histogram
	if h.Quantile(0.5) != 0 || h.Count() != 0 {
		t.Fatal("empty histogram should report 0")
	}
	// 1..1000 microseconds, shuffled.
	vals := make([]time.Duration, 1000)
	for i := range vals {
		vals[i] = time.Duration(i+1) * time.Microsecond
	}
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(vals), func(i, j int) { vals[i], vals[j] = vals[j], vals[i] })
	for _, v := range vals {
		h.Record(v)
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := h.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/64 {
			t.Errorf("q%.3f = %v, exact %v", q, got, exact)
		}
	}
	if h.Quantile(0) != time.Microsecond || h.Quantile(1) != 1000*time.Microsecond || h.Max() != 1000*time.Microsecond {
		t.Errorf("min/max: %v %v %v", h.Quantile(0), h.Quantile(1), h.Max())
	}
	if m := h.Mean(); m < 500*time.Microsecond || m > 501*time.Microsecond {
		t.Errorf("mean %v", m)
	}
}

func TestHistQuantileNeverAboveMax(t *testing.T) {
	var h histogram
	h.Record(1000003 * time.Nanosecond)
	if got := h.Quantile(0.99); got != 1000003*time.Nanosecond {
		t.Errorf("single value: q99 = %v", got)
	}
	h.Record(-time.Second) // clamped to 0
	if h.Quantile(0) != 0 {
		t.Errorf("negative duration not clamped: %v", h.Quantile(0))
	}
}

func TestHistMerge(t *testing.T) {
	var a, b, all histogram
	for i := 1; i <= 500; i++ {
		d := time.Duration(i) * time.Millisecond
		a.Record(d)
		all.Record(d)
	}
	for i := 501; i <= 1000; i++ {
		d := time.Duration(i) * time.Millisecond
		b.Record(d)
		all.Record(d)
	}
	var m histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&histogram{})
	if m.Count() != 1000 || m.Max() != all.Max() || m.Mean() != all.Mean() {
		t.Fatalf("merged count %d max %v mean %v", m.Count(), m.Max(), m.Mean())
	}
	for _, q := range []float64{0.5, 0.99, 0.999} {
		if m.Quantile(q) != all.Quantile(q) {
			t.Errorf("q%v: merged %v, direct %v", q, m.Quantile(q), all.Quantile(q))
		}
	}
	if m.Quantile(0.5) < 500*time.Millisecond || m.Quantile(0.5) > 508*time.Millisecond {
		t.Errorf("median %v", m.Quantile(0.5))
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
