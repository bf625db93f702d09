package fsm

import (
	"strconv"
	"testing"
)

// tkey is a minimal table element for the model tests.
type tkey struct{ k, v string }

func (e *tkey) key() string { return e.k }

// FuzzTable runs a sequence of puts, inserts and removes against the
// table and a Go map side by side. The table is our own open-addressing
// code (no module offers a set keyed by a field of its elements), so it
// is checked against the map after every operation: length, every
// lookup, and the set of elements all visits.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte{0x40, 0x41, 0x42, 0x80, 0x81, 0x82, 0x40, 0x41, 0x42, 0x80, 0x81, 0x82})
	seq := make([]byte, 0, 600)
	for i := range 300 { // grow past several sizes, then empty it again
		seq = append(seq, byte(i))
	}
	for i := range 300 {
		seq = append(seq, 0x80|byte(i))
	}
	f.Add(seq)
	f.Fuzz(func(t *testing.T, ops []byte) {
		var tb table[*tkey]
		if len(ops) > 0 && ops[0]&1 == 1 {
			tb = newTable[*tkey](int(ops[0]))
		}
		model := map[string]*tkey{}
		for i, op := range ops {
			k := strconv.Itoa(int(op & 0x3f)) // 64 keys: many collisions and reuses
			switch op >> 6 {
			case 0, 1: // put (replace or add)
				e := &tkey{k: k, v: strconv.Itoa(i)}
				tb.put(e)
				model[k] = e
			case 2: // remove
				tb.remove(k)
				delete(model, k)
			case 3: // insertNew when absent, else a lookup
				if _, ok := model[k]; !ok {
					e := &tkey{k: k, v: strconv.Itoa(i)}
					tb.insertNew(e, k)
					model[k] = e
				}
			}
			if tb.len() != len(model) {
				t.Fatalf("op %d: len %d, model %d", i, tb.len(), len(model))
			}
			for j := range 64 {
				k := strconv.Itoa(j)
				if got, want := tb.get(k), model[k]; got != want {
					t.Fatalf("op %d: get(%q) = %v, want %v", i, k, got, want)
				}
			}
			seen := map[string]bool{}
			tb.all(func(e *tkey) {
				if seen[e.k] {
					t.Fatalf("op %d: all visited %q twice", i, e.k)
				}
				seen[e.k] = true
				if model[e.k] != e {
					t.Fatalf("op %d: all visited %v, not in the model", i, e)
				}
			})
			if len(seen) != len(model) {
				t.Fatalf("op %d: all visited %d elements, model has %d", i, len(seen), len(model))
			}
		}
	})
}
