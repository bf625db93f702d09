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
			got := buildFieldList(mergeFields(nil, buildFieldList(tc.old), sortedFields(nil, tc.set), tc.unset))
			if want := buildFieldList(tc.want); !reflect.DeepEqual(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

// TestFieldListCopies: a built field list copies the values, and a value
// handed out cannot be appended into the next one.
func TestFieldListCopies(t *testing.T) {
	set := flds("a", "1", "b", "2")
	r := mkRecord("", "", buildFieldList(sortedFields(nil, set)), Record{})
	set["a"][0] = 'X'
	if val(r, "a") != "1" {
		t.Fatalf("value aliases the command: %q", r.payload())
	}
	a, _ := r.Field("a")
	_ = append(a, 'Y')
	if val(r, "b") != "2" {
		t.Fatalf("append to one value wrote into the next: %q", r.payload())
	}
}

// TestRecordFieldsIter: Fields yields every field in name order, NumFields
// counts them, and stopping early is allowed.
func TestRecordFieldsIter(t *testing.T) {
	r := mkRecord("", "", encFields(fl("a", "1", "c", "", "e", "5")), Record{})
	var got []Field
	for k, v := range r.Fields() {
		got = append(got, Field{k, v})
	}
	if want := fl("a", "1", "c", "", "e", "5"); len(got) != 3 || r.NumFields() != 3 ||
		string(appendFieldList(nil, got)) != string(appendFieldList(nil, want)) {
		t.Errorf("fields %q, count %d", got, r.NumFields())
	}
	for range r.Fields() {
		break
	}
	if n := (&Record{}).NumFields(); n != 0 {
		t.Errorf("no fields: count %d", n)
	}
	if m := r.FieldMap(); len(m) != 3 || string(m["e"]) != "5" {
		t.Errorf("FieldMap %q", m)
	}
	w := (mkRecord("x", "", nil, Record{})).WithFields(flds("b", "2", "a", "1"))
	if w.ID() != "x" || val(w, "a") != "1" || val(w, "b") != "2" || w.NumFields() != 2 {
		t.Errorf("WithFields: %q", w.payload())
	}
}

func TestRecordField(t *testing.T) {
	r := mkRecord("", "", encFields(fl("a", "1", "c", "", "e", "5")), Record{})
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
			_, err := DecodeRecord(AppendRecord(nil, mkRecord("s", "", encFields(tc.fields), Record{})))
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrCorrupt)) {
				t.Errorf("err = %v", err)
			}
		})
	}
}
