package fsm

import (
	"errors"
	"reflect"
	"testing"
)

func TestMergeFields(t *testing.T) {
	cases := []struct {
		name  string
		old   []Field
		set   map[string][]byte
		unset []string
		want  []Field
	}{
		{"nothing", nil, nil, nil, nil},
		{"add to none", nil, flds("b", "2", "a", "1"), nil, fl("a", "1", "b", "2")},
		{"interleave", fl("a", "1", "c", "3"), flds("b", "2", "d", "4"), nil, fl("a", "1", "b", "2", "c", "3", "d", "4")},
		{"overwrite", fl("a", "1", "b", "2"), flds("b", "x"), nil, fl("a", "1", "b", "x")},
		{"unset", fl("a", "1", "b", "2"), nil, []string{"a", "zz"}, fl("b", "2")},
		{"unset after set", fl("a", "1"), flds("b", "2"), []string{"b"}, fl("a", "1")},
		{"unset all", fl("a", "1"), nil, []string{"a"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := mergeFields(tc.old, tc.set, tc.unset, false)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestMergeFieldsCopies: values of a command are copied unless owned, and
// copies packed into one buffer cannot be appended into each other.
func TestMergeFieldsCopies(t *testing.T) {
	set := flds("a", "1", "b", "2")
	got := mergeFields(nil, set, nil, false)
	set["a"][0] = 'X'
	if val(&Record{Fields: got}, "a") != "1" {
		t.Fatalf("value aliases the command: %q", got)
	}
	_ = append(got[0].Value, 'Y')
	if val(&Record{Fields: got}, "b") != "2" {
		t.Fatalf("append to one value wrote into the next: %q", got)
	}
}

func TestRecordField(t *testing.T) {
	r := &Record{Fields: fl("a", "1", "c", "", "e", "5")}
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{{"a", "1", true}, {"c", "", true}, {"e", "5", true}, {"b", "", false}, {"", "", false}, {"f", "", false}} {
		v, ok := r.Field(tc.name)
		if string(v) != tc.want || ok != tc.ok {
			t.Errorf("Field(%q) = %q, %v; want %q, %v", tc.name, v, ok, tc.want, tc.ok)
		}
	}
}

// TestDecodeRecordFieldOrder: every encoder writes field names in strictly
// ascending order, so anything else is corrupt rather than silently
// reordered.
func TestDecodeRecordFieldOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields []Field
		ok     bool
	}{
		{"ascending", fl("a", "1", "b", "2"), true},
		{"descending", []Field{{"b", nil}, {"a", nil}}, false},
		{"duplicate", []Field{{"a", nil}, {"a", nil}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRecord(AppendRecord(nil, &Record{ID: "s", Fields: tc.fields}))
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrCorrupt)) {
				t.Errorf("err = %v", err)
			}
		})
	}
}
