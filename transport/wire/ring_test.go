package wire

import (
	"crypto/rand"
	"encoding/base64"
	"math"
	"testing"
)

func TestRingDeterministic(t *testing.T) {
	a, err := NewRing(5, DefaultVNodes)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewRing(5, DefaultVNodes)
	for i := 0; i < 10000; i++ {
		k := randomKey(t)
		if a.Group(k) != b.Group(k) {
			t.Fatalf("rings disagree on %q", k)
		}
	}
}

// Golden values pin the hash function: changing it would silently reroute
// every session of every deployed cluster, so it must be a deliberate act.
func TestRingGolden(t *testing.T) {
	r, _ := NewRing(3, DefaultVNodes)
	got := []int{r.Group("a"), r.Group("session-1"), r.Group("zzzzzzzzzzzzzzzzzzzzzz"), r.Group("")}
	want := goldenGroups
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("golden mismatch at %d: got %v want %v", i, got, want)
		}
	}
}

var goldenGroups = []int{1, 1, 2, 1}

func TestRingBalance(t *testing.T) {
	for _, groups := range []int{1, 3, 5, 16} {
		r, _ := NewRing(groups, DefaultVNodes)
		counts := make([]int, groups)
		const n = 60000
		for i := 0; i < n; i++ {
			counts[r.Group(randomKey(t))]++
		}
		mean := float64(n) / float64(groups)
		for g, c := range counts {
			if math.Abs(float64(c)-mean)/mean > 0.25 {
				t.Errorf("groups=%d: group %d has %d keys, mean %.0f", groups, g, c, mean)
			}
		}
	}
}

// Adding a group moves only about 1/(G+1) of keys, the point of consistent hashing.
func TestRingMinimalMovement(t *testing.T) {
	r3, _ := NewRing(3, DefaultVNodes)
	r4, _ := NewRing(4, DefaultVNodes)
	moved := 0
	const n = 20000
	for i := 0; i < n; i++ {
		k := randomKey(t)
		a, b := r3.Group(k), r4.Group(k)
		if a != b {
			moved++
			if b != 3 {
				t.Fatalf("key moved between old groups %d -> %d", a, b)
			}
		}
	}
	if frac := float64(moved) / n; frac > 0.35 {
		t.Fatalf("moved %.2f of keys, want about 0.25", frac)
	}
}

func TestNewRingBounds(t *testing.T) {
	for _, c := range []struct{ g, v int }{{0, 1}, {1, 0}, {2000, 1}, {1, 5000}} {
		if _, err := NewRing(c.g, c.v); err == nil {
			t.Errorf("NewRing(%d,%d) accepted", c.g, c.v)
		}
	}
}

func FuzzRingGroup(f *testing.F) {
	r, _ := NewRing(7, 16)
	f.Add("x")
	f.Fuzz(func(t *testing.T, k string) {
		g := r.Group(k)
		if g < 0 || g >= 7 || g != r.Group(k) {
			t.Fatalf("bad group %d", g)
		}
	})
}

func BenchmarkRingGroup(b *testing.B) {
	r, _ := NewRing(3, DefaultVNodes)
	k := "hV3kq9Zy0mWc1xS2Qa7bLg"
	for b.Loop() {
		_ = r.Group(k)
	}
}

func randomKey(t testing.TB) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}
