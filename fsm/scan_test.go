package fsm

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// scanAll runs a whole scan of f, calling between before each page after
// the first, and returns how often each key came back.
func scanAll(t *testing.T, f func() *FSM, o ScanOptions, between func(page int)) map[string]int {
	t.Helper()
	seen := map[string]int{}
	cursor := uint64(0)
	for page := 0; ; page++ {
		if page > 0 && between != nil {
			between(page)
		}
		next, keys := f().Scan(cursor, o, t0)
		for _, k := range keys {
			seen[k]++
		}
		if next >= 1<<ScanCursorBits {
			t.Fatalf("cursor %#x has more than %d bits", next, ScanCursorBits)
		}
		if next == 0 {
			return seen
		}
		if page > 1_000_000 {
			t.Fatal("scan does not end")
		}
		cursor = next
	}
}

func TestScanSmall(t *testing.T) {
	r := newRedisFSM(t)
	r.ok(cCreate("sess:1", "u", nil, 0, 0))
	r.ok(set("str:1", "v"))
	r.ok(set("str:2", "v"))
	r.ok(cSAdd("set:1", "m"))
	r.ok(setEx("str:gone", "v", sec))
	r.now += 2 * sec
	f := func() *FSM { return r.f }
	for _, tc := range []struct {
		o    ScanOptions
		want []string
	}{
		{ScanOptions{}, []string{"sess:1", "set:1", "str:1", "str:2"}},
		{ScanOptions{Count: 1}, []string{"sess:1", "set:1", "str:1", "str:2"}},
		{ScanOptions{Match: "str:*"}, []string{"str:1", "str:2"}},
		{ScanOptions{Match: "s??:[12]", Count: 1000}, []string{"set:1", "str:1", "str:2"}},
		{ScanOptions{Kind: KindHash}, []string{"sess:1"}},
		{ScanOptions{Kind: KindString, Match: "*2"}, []string{"str:2"}},
		{ScanOptions{Kind: KindSet}, []string{"set:1"}},
	} {
		seen := map[string]int{}
		cursor := uint64(0)
		for {
			next, keys := r.f.Scan(cursor, tc.o, r.now)
			for _, k := range keys {
				seen[k]++
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		got := slices.Sorted(func(yield func(string) bool) {
			for k, n := range seen {
				if n != 1 {
					t.Errorf("%+v: %q returned %d times", tc.o, k, n)
				}
				if !yield(k) {
					return
				}
			}
		})
		if !slices.Equal(got, tc.want) {
			t.Errorf("%+v: got %q, want %q", tc.o, got, tc.want)
		}
	}
	_ = f
	// A cursor from another process (another tag) starts over.
	foreign := (scanTag ^ 1) << scanTagShift
	if foreign>>scanTagShift == 0 {
		foreign = 2 << scanTagShift
	}
	_, keys := r.f.Scan(foreign|5, ScanOptions{Count: 1000}, r.now)
	if len(keys) != 4 {
		t.Fatalf("foreign cursor returned %q", keys)
	}
}

// TestScanGuarantee is the property SCAN promises: a key present from the
// start of a scan to its end is returned at least once, while other keys
// come and go between pages, growing and shrinking the tables, and while
// a snapshot restore rebuilds them.
func TestScanGuarantee(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			cur := New(Limits{})
			idx := uint64(0)
			apply := func(cs ...Command) {
				idx++
				cur.ApplyDecoded(idx, &Batch{Time: t0, Cmds: cs})
			}
			stable := map[string]bool{}
			var cs []Command
			for i := range 1000 {
				k := "stable-" + strconv.Itoa(i)
				stable[k] = true
				cs = append(cs, set(k, "v"))
			}
			apply(cs...)
			churn := 0
			var live []string
			between := func(page int) {
				var cs []Command
				switch rng.IntN(5) {
				case 0, 1: // a burst of inserts: tables grow
					for range rng.IntN(1500) {
						k := "churn-" + strconv.Itoa(churn)
						churn++
						live = append(live, k)
						cs = append(cs, set(k, "v"))
					}
				case 2, 3: // a burst of deletes: tombstones, then smaller tables
					n := rng.IntN(len(live) + 1)
					rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
					cs = append(cs, cDestroy(live[:n]...))
					live = live[n:]
				case 4: // a snapshot restored: tables rebuilt at another size
					var buf bytes.Buffer
					s, _ := cur.Snapshot()
					if _, err := s.WriteTo(&buf); err != nil {
						t.Fatal(err)
					}
					s.Release()
					next := New(Limits{})
					if err := next.Restore(&buf); err != nil {
						t.Fatal(err)
					}
					cur = next
				}
				if len(cs) > 0 {
					apply(cs...)
				}
			}
			seen := scanAll(t, func() *FSM { return cur }, ScanOptions{Count: 1 + rng.IntN(200)}, between)
			for k := range stable {
				if seen[k] == 0 {
					t.Fatalf("stable key %q never returned (%d churn keys made)", k, churn)
				}
			}
		})
	}
}

// TestTableScanResize checks table.scan directly across growth and
// shrinking between every step.
func TestTableScanResize(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	var tb table[*tkey]
	stable := map[string]bool{}
	for i := range 500 {
		k := "s" + strconv.Itoa(i)
		stable[k] = true
		tb.put(&tkey{k: k})
	}
	var tmp []string
	seen := map[string]bool{}
	sizes := map[int]bool{}
	v := uint64(0)
	for steps := 0; ; steps++ {
		v = tb.scan(v, func(e *tkey) { seen[e.k] = true })
		sizes[len(tb.tags)] = true
		if v == 0 {
			break
		}
		switch rng.IntN(16) {
		case 0:
			for range rng.IntN(1000) {
				k := "t" + strconv.Itoa(rng.IntN(1<<30))
				tmp = append(tmp, k)
				tb.put(&tkey{k: k})
			}
		case 1:
			for _, k := range tmp {
				tb.remove(k)
			}
			tmp = tmp[:0]
			// Inserting after mass removal rehashes into a smaller table.
			tb.put(&tkey{k: "x" + strconv.Itoa(steps)})
		}
	}
	for k := range stable {
		if !seen[k] {
			t.Fatalf("%q missed", k)
		}
	}
	if len(sizes) < 3 {
		t.Fatalf("the table took only sizes %v", sizes)
	}
}

// FuzzScanCursor: a client sends any cursor, count and pattern; Scan
// neither panics nor returns a cursor beyond its bits, and a cursor it
// returned, sent back, makes progress to the end.
func FuzzScanCursor(f *testing.F) {
	f.Add(uint64(0), 10, "*")
	f.Add(scanTag<<scanTagShift|63<<scanPosBits|12345, 1, "k[")
	f.Add(^uint64(0), -5, "\\")
	g := New(Limits{})
	var cs []Command
	for i := range 300 {
		cs = append(cs, set("k"+strconv.Itoa(i), "v"))
	}
	g.ApplyDecoded(1, &Batch{Time: t0, Cmds: cs})
	f.Fuzz(func(t *testing.T, cursor uint64, count int, match string) {
		count %= 1000
		next, keys := g.Scan(cursor, ScanOptions{Count: count, Match: match}, t0)
		for pages := 0; next != 0; pages++ {
			if next >= 1<<ScanCursorBits || pages > 400*10 {
				t.Fatalf("cursor %#x after %d pages", next, pages)
			}
			var more []string
			next, more = g.Scan(next, ScanOptions{Count: count, Match: match}, t0)
			keys = append(keys, more...)
		}
		_ = keys
	})
}
