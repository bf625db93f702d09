package raftcodec

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"

	"github.com/hashicorp/raft"
)

// fuzzDecoder checks one decoder on arbitrary input: it never panics,
// fails only with ErrMalformed, and whatever it accepts re-encodes to a
// message that decodes to the same value.
func fuzzDecoder(f *testing.F, name string) {
	var m message
	for _, x := range messages {
		if x.name == name {
			m = x
		}
	}
	if m.name == "" {
		f.Fatalf("no message %q", name)
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	f.Add(m.encode(nil, m.newT()))
	for range 4 {
		v := m.newT()
		fill(reflect.ValueOf(v).Elem(), rnd)
		f.Add(m.encode(nil, v))
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		v := m.newT()
		err := m.decode(b, v)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		again := m.newT()
		if err := m.decode(m.encode(nil, v), again); err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		normalize(reflect.ValueOf(v).Elem())
		normalize(reflect.ValueOf(again).Elem())
		if !reflect.DeepEqual(v, again) {
			t.Fatalf("re-encoding changed the value\n%+v\n%+v", v, again)
		}
	})
}

func FuzzAppendEntriesRequest(f *testing.F)    { fuzzDecoder(f, "AppendEntriesRequest") }
func FuzzAppendEntriesResponse(f *testing.F)   { fuzzDecoder(f, "AppendEntriesResponse") }
func FuzzRequestVoteRequest(f *testing.F)      { fuzzDecoder(f, "RequestVoteRequest") }
func FuzzRequestVoteResponse(f *testing.F)     { fuzzDecoder(f, "RequestVoteResponse") }
func FuzzRequestPreVoteRequest(f *testing.F)   { fuzzDecoder(f, "RequestPreVoteRequest") }
func FuzzRequestPreVoteResponse(f *testing.F)  { fuzzDecoder(f, "RequestPreVoteResponse") }
func FuzzInstallSnapshotRequest(f *testing.F)  { fuzzDecoder(f, "InstallSnapshotRequest") }
func FuzzInstallSnapshotResponse(f *testing.F) { fuzzDecoder(f, "InstallSnapshotResponse") }
func FuzzTimeoutNowRequest(f *testing.F)       { fuzzDecoder(f, "TimeoutNowRequest") }
func FuzzTimeoutNowResponse(f *testing.F)      { fuzzDecoder(f, "TimeoutNowResponse") }

// TestEntryCountBound: a count of entries the bytes cannot hold is
// refused before anything is allocated for it (2^32 entries would be
// hundreds of GiB; the refusal costs only its error).
func TestEntryCountBound(t *testing.T) {
	b := []byte{0, 0, 0, 1, 0, 0, 0, 0}         // header, term 1, no leader, zeros
	b = append(b, 0xff, 0xff, 0xff, 0xff, 0x0f) // 2^32-1 entries
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 100 {
		var req raft.AppendEntriesRequest
		if err := DecodeAppendEntriesRequest(b, &req); !errors.Is(err, ErrMalformed) {
			t.Fatalf("got %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 100*4096 {
		t.Fatalf("refusing 100 hostile counts allocated %d bytes", d)
	}
}
