package fsm

import (
	"slices"
	"strings"
)

// Building a record's encoded field list (fieldlist.go) from the
// map-shaped fields of a Create or Set command.

// sortedFields appends the entries of m to dst, sorted by name, and
// returns it. Names and values are m's own, not copies: the result is a
// view for building a field list, which copies.
func sortedFields(dst []Field, m map[string][]byte) []Field {
	base := len(dst)
	for k, v := range m {
		dst = append(dst, Field{Name: k, Value: v})
	}
	slices.SortFunc(dst[base:], cmpFields)
	return dst
}

func cmpFields(a, b Field) int { return strings.Compare(a.Name, b.Name) }

// mergeFields appends to dst[:0] the fields of the encoded list old with
// set written over it and unset removed, in name order, and returns it.
// set must be sorted by name. The result is a view of old and set.
func mergeFields(dst []Field, old []byte, set []Field, unset []string) []Field {
	out := dst[:0]
	it := iterFields(old)
	name, value, more := it.next()
	j := 0
	for more || j < len(set) {
		switch {
		case j == len(set) || (more && name < set[j].Name):
			out = append(out, Field{name, value})
			name, value, more = it.next()
		case !more || set[j].Name < name:
			out = append(out, set[j])
			j++
		default: // same name: the new value wins
			out = append(out, set[j])
			name, value, more = it.next()
			j++
		}
	}
	if len(unset) > 0 {
		out = slices.DeleteFunc(out, func(f Field) bool { return slices.Contains(unset, f.Name) })
	}
	return out
}

// listSize is the Record.Size contribution of fs: names and values.
func listSize(fs []Field) int {
	n := 0
	for _, f := range fs {
		n += len(f.Name) + len(f.Value)
	}
	return n
}
