package fsm

import (
	"slices"
	"strings"
)

// Building a record's sorted field list from the map-shaped fields of a
// Create or Set command.

// fieldsFromMap returns m as a sorted field list, nil when m is empty. With
// own set the values are kept as they are (they came from DecodeBatch and
// nobody else holds them); otherwise they are copied, into one allocation
// for all of them.
func fieldsFromMap(m map[string][]byte, own bool) []Field {
	if len(m) == 0 {
		return nil
	}
	out := make([]Field, 0, len(m))
	for k, v := range m {
		out = append(out, Field{Name: k, Value: v})
	}
	slices.SortFunc(out, cmpFields)
	if !own {
		copyValues(out)
	}
	return out
}

func cmpFields(a, b Field) int { return strings.Compare(a.Name, b.Name) }

// copyValues replaces every value by a copy, all packed into one new
// buffer. Each copy's capacity is its length, so an append to one can never
// write into its neighbour.
func copyValues(fs []Field) {
	n := 0
	for _, f := range fs {
		n += len(f.Value)
	}
	buf := make([]byte, 0, n)
	for i, f := range fs {
		start := len(buf)
		buf = append(buf, f.Value...)
		fs[i].Value = buf[start:len(buf):len(buf)]
	}
}

// mergeFields returns old with set written over it and unset removed, as a
// new sorted list (nil when empty). Values of old are shared, since records
// are immutable; values of set are copied unless own.
func mergeFields(old []Field, set map[string][]byte, unset []string, own bool) []Field {
	add := fieldsFromMap(set, own)
	out := make([]Field, 0, len(old)+len(add))
	i, j := 0, 0
	for i < len(old) || j < len(add) {
		switch {
		case j == len(add) || (i < len(old) && old[i].Name < add[j].Name):
			out = append(out, old[i])
			i++
		case i == len(old) || add[j].Name < old[i].Name:
			out = append(out, add[j])
			j++
		default: // same name: the new value wins
			out = append(out, add[j])
			i++
			j++
		}
	}
	if len(unset) > 0 {
		out = slices.DeleteFunc(out, func(f Field) bool { return slices.Contains(unset, f.Name) })
	}
	if len(out) == 0 {
		return nil
	}
	return slices.Clip(out)
}
