package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

const sec = int64(time.Second)

// t0 is an arbitrary, realistic log time.
const t0 = 1_700_000_000 * sec

// smallLimits makes every limit easy to hit in tests.
var smallLimits = Limits{
	MaxIDLen:        8,
	MaxSubjectLen:   8,
	MaxFields:       3,
	MaxFieldNameLen: 4,
	MaxValueBytes:   8,
	MaxRecordBytes:  32,
	DedupWindow:     60 * sec,
	MaxReqIDLen:     4,
}

func flds(kv ...string) map[string][]byte {
	m := make(map[string][]byte, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

// fl returns a record's field list (sorted) from name/value pairs.
func fl(kv ...string) []Field {
	fs := sortedFields(nil, flds(kv...))
	if len(fs) == 0 {
		return nil
	}
	return fs
}

// val returns the value of a record's field as a string, "" if absent.
func val(r *Record, name string) string {
	v, _ := r.Field(name)
	return string(v)
}

func cCreate(id, subject string, fields map[string][]byte, idle, ttl int64) Command {
	return Command{Type: CmdCreate, Create: &Create{ID: id, Subject: subject, Fields: fields, IdleTimeout: idle, AbsTTL: ttl}}
}

func cSet(id string, ifVersion uint64, fields map[string][]byte, unset ...string) Command {
	return Command{Type: CmdSet, Set: &Set{ID: id, IfVersion: ifVersion, Fields: fields, Unset: unset}}
}

func cTouch(ids []string, times []int64) Command {
	return Command{Type: CmdTouch, Touch: &Touch{IDs: ids, Times: times}}
}

func cDestroy(ids ...string) Command {
	return Command{Type: CmdDestroy, Destroy: &Destroy{IDs: ids}}
}

func cRotate(oldID, newID string, ifVersion uint64) Command {
	return Command{Type: CmdRotate, Rotate: &Rotate{OldID: oldID, NewID: newID, IfVersion: ifVersion}}
}

func cRevoke(subject, except string) Command {
	return Command{Type: CmdRevoke, Revoke: &Revoke{Subject: subject, Except: except}}
}

func cExpire(ids ...string) Command {
	return Command{Type: CmdExpire, Expire: &Expire{IDs: ids}}
}

func withReq(c Command, reqID string) Command {
	c.ReqID = reqID
	return c
}

// applyOne applies a one-command batch and returns its result.
func applyOne(t testing.TB, f *FSM, index uint64, at int64, c Command) Result {
	t.Helper()
	res := f.ApplyDecoded(index, &Batch{Time: at, Cmds: []Command{c}})
	if len(res) != 1 {
		t.Fatalf("got %d results, want 1", len(res))
	}
	return res[0]
}

// mustApply applies a one-command batch and fails the test on an error.
func mustApply(t testing.TB, f *FSM, index uint64, at int64, c Command) Result {
	t.Helper()
	r := applyOne(t, f, index, at, c)
	if r.Err != nil {
		t.Fatalf("apply %d (type %d): %v", index, c.Type, r.Err)
	}
	return r
}

func checkErr(t testing.TB, got, want error) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("unexpected error: %v", got)
	case want != nil && !errors.Is(got, want):
		t.Errorf("error = %v, want %v", got, want)
	}
}

// sameRecord compares records treating nil and empty field lists and
// values as equal.
func sameRecord(a, b *Record) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.ID() != b.ID() || a.Subject() != b.Subject() || a.Version != b.Version ||
		a.Created != b.Created || a.LastAccess != b.LastAccess ||
		a.IdleTimeout != b.IdleTimeout || a.AbsDeadline != b.AbsDeadline ||
		!bytes.Equal(a.payload(), b.payload()) {
		return false
	}
	return true
}

// encFields encodes fs as a record's field list as it is, sorted or not
// (tests of corrupt input need the unsorted ones).
func encFields(fs []Field) []byte {
	if len(fs) == 0 {
		return nil
	}
	return appendFieldList(nil, fs)
}

func ids(recs []*Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID()
	}
	return out
}

func isErr(got, want error) bool { return errors.Is(got, want) }

// mkRecord returns r with the id, subject and payload (copied into its
// data, as the FSM's records have them).
func mkRecord(id, subject string, payload []byte, r Record) *Record {
	r.setData(id, subject, payload)
	return &r
}

// dump shows a record in a test's failure message.
func dump(r *Record) string {
	if r == nil {
		return "<nil>"
	}
	return fmt.Sprintf("{id %q subject %q payload %x version %d created %d access %d idle %d deadline %d}",
		r.ID(), r.Subject(), r.payload(), r.Version, r.Created, r.LastAccess, r.IdleTimeout, r.AbsDeadline)
}
