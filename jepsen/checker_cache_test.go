package jepsen

import (
	"strings"
	"testing"
	"time"
)

// TestCheckCache: the caching checker fails a read that returned a
// destroyed session later than the bound after the acknowledgement, and
// passes one within it, a read that started before the acknowledgement,
// and a destroy of unknown outcome.
func TestCheckCache(t *testing.T) {
	ms := func(n int) int64 { return int64(time.Duration(n) * time.Millisecond) }
	bound := 100 * time.Millisecond
	base := []Op{
		{Workload: "cache", F: "destroy", Key: "a", Call: ms(0), Return: ms(10), Outcome: OK},
		{Workload: "cache", F: "destroy", Key: "u", Call: ms(0), Return: ms(10), Outcome: Unknown},
		{Workload: "cache", F: "cached-read", Key: "a", Call: ms(5), Return: ms(300), Found: true, Outcome: OK},
		{Workload: "cache", F: "cached-read", Key: "a", Call: ms(100), Return: ms(101), Found: true, Outcome: OK},
		{Workload: "cache", F: "cached-read", Key: "u", Call: ms(500), Return: ms(501), Found: true, Outcome: OK},
		{Workload: "cache", F: "cached-read", Key: "a", Call: ms(500), Return: ms(501), Outcome: OK},
	}
	if r := checkCache(base, bound, []time.Duration{time.Millisecond}); !r.Valid {
		t.Fatalf("valid history failed: %s", r.Detail)
	}
	late := append(base, Op{Workload: "cache", F: "cached-read", Key: "a", Call: ms(111), Return: ms(112), Found: true, Outcome: OK})
	r := checkCache(late, bound, nil)
	if r.Valid || !strings.Contains(r.Detail, "past the bound 1") {
		t.Fatalf("a read 101ms after the acknowledgement passed a 100ms bound: %s", r.Detail)
	}
}
