package fsm

import (
	"errors"
	"fmt"
	"testing"
)

// TestConflictVersion pins the format of Apply's ErrConflict detail that
// ConflictVersion reads (the node shows the version to users), for the
// error Apply returns and for the one rebuilt from an encoded Result.
func TestConflictVersion(t *testing.T) {
	f := New(smallLimits)
	res := f.ApplyDecoded(1, &Batch{Time: t0, Cmds: []Command{cCreate("s1", "u1", flds("a", "1"), 0, 0)}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	for _, c := range []struct {
		name string
		cmd  Command
	}{
		{"set", cSet("s1", 7, flds("a", "2"))},
		{"rotate", Command{Type: CmdRotate, Rotate: &Rotate{OldID: "s1", NewID: "s2", IfVersion: 7}}},
	} {
		res := f.ApplyDecoded(2, &Batch{Time: t0, Cmds: []Command{c.cmd}})
		err := res[0].Err
		if v, ok := ConflictVersion(err); !ok || v != 1 {
			t.Errorf("%s: ConflictVersion(%v) = %d, %v; want 1, true", c.name, err, v, ok)
		}
		out, derr := DecodeResult(AppendResult(nil, &res[0]))
		if derr != nil {
			t.Fatal(derr)
		}
		if v, ok := ConflictVersion(out.Err); !ok || v != 1 {
			t.Errorf("%s decoded: ConflictVersion(%v) = %d, %v; want 1, true", c.name, out.Err, v, ok)
		}
	}
	for _, err := range []error{
		nil,
		errors.New("x is at version 3, not 2"),   // not an ErrConflict
		ErrConflict,                              // no detail
		fmt.Errorf("%w: version 3", ErrConflict), // another format
		fmt.Errorf("%w: id \"a\" is at version x, not 2", ErrConflict),
	} {
		if v, ok := ConflictVersion(err); ok {
			t.Errorf("ConflictVersion(%v) = %d, true; want false", err, v)
		}
	}
}
