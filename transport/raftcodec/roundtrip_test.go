package raftcodec

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
)

// message is one RPC struct with its encoder and decoder, typed away so
// the tests can range over all ten.
type message struct {
	name   string
	newT   func() any
	encode func(dst []byte, v any) []byte
	decode func(b []byte, v any) error
	// fields lists the struct's fields (RPCHeader's included, Log's
	// under Entries): a field raft adds later fails TestEveryFieldListed
	// until the codec carries it.
	fields []string
}

func msg[T any](name string, enc func([]byte, *T) []byte, dec func([]byte, *T) error, fields ...string) message {
	return message{
		name:   name,
		newT:   func() any { return new(T) },
		encode: func(dst []byte, v any) []byte { return enc(dst, v.(*T)) },
		decode: func(b []byte, v any) error { return dec(b, v.(*T)) },
		fields: append([]string{"RPCHeader.ProtocolVersion", "RPCHeader.ID", "RPCHeader.Addr"}, fields...),
	}
}

var messages = []message{
	msg("AppendEntriesRequest", EncodeAppendEntriesRequest, DecodeAppendEntriesRequest,
		"Term", "Leader", "PrevLogEntry", "PrevLogTerm", "Entries",
		"Entries.Index", "Entries.Term", "Entries.Type", "Entries.Data", "Entries.Extensions", "Entries.AppendedAt",
		"LeaderCommitIndex"),
	msg("AppendEntriesResponse", EncodeAppendEntriesResponse, DecodeAppendEntriesResponse,
		"Term", "LastLog", "Success", "NoRetryBackoff"),
	msg("RequestVoteRequest", EncodeRequestVoteRequest, DecodeRequestVoteRequest,
		"Term", "Candidate", "LastLogIndex", "LastLogTerm", "LeadershipTransfer"),
	msg("RequestVoteResponse", EncodeRequestVoteResponse, DecodeRequestVoteResponse,
		"Term", "Peers", "Granted"),
	msg("RequestPreVoteRequest", EncodeRequestPreVoteRequest, DecodeRequestPreVoteRequest,
		"Term", "LastLogIndex", "LastLogTerm"),
	msg("RequestPreVoteResponse", EncodeRequestPreVoteResponse, DecodeRequestPreVoteResponse,
		"Term", "Granted"),
	msg("InstallSnapshotRequest", EncodeInstallSnapshotRequest, DecodeInstallSnapshotRequest,
		"SnapshotVersion", "Term", "Leader", "LastLogIndex", "LastLogTerm", "Peers",
		"Configuration", "ConfigurationIndex", "Size"),
	msg("InstallSnapshotResponse", EncodeInstallSnapshotResponse, DecodeInstallSnapshotResponse,
		"Term", "Success"),
	msg("TimeoutNowRequest", EncodeTimeoutNowRequest, DecodeTimeoutNowRequest),
	msg("TimeoutNowResponse", EncodeTimeoutNowResponse, DecodeTimeoutNowResponse),
}

// fieldNames lists t's fields as the messages table spells them.
func fieldNames(t reflect.Type, prefix string, out *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		name := prefix + f.Name
		ft := f.Type
		switch {
		case ft == reflect.TypeOf(time.Time{}):
			*out = append(*out, name)
		case ft.Kind() == reflect.Struct:
			fieldNames(ft, name+".", out)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Pointer:
			*out = append(*out, name)
			fieldNames(ft.Elem().Elem(), name+".", out)
		default:
			*out = append(*out, name)
		}
	}
}

// TestEveryFieldListed fails when raft's structs gain (or lose) a field,
// so a new field cannot be dropped on the wire unnoticed.
func TestEveryFieldListed(t *testing.T) {
	for _, m := range messages {
		var got []string
		fieldNames(reflect.TypeOf(m.newT()).Elem(), "", &got)
		want := append([]string(nil), m.fields...)
		sort.Strings(got)
		sort.Strings(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: struct fields %v, codec table %v", m.name, got, want)
		}
	}
}

// fill sets every field of v to a random value, non-zero for every
// integer, byte string and time, so a field the codec drops shows up as a
// difference. Booleans are random; the loop in the tests covers both.
func fill(v reflect.Value, rnd *rand.Rand) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			// Either side of 1970 and beyond int64 nanoseconds' range.
			sec := rnd.Int64N(1<<40) - 1<<39
			v.Set(reflect.ValueOf(time.Unix(sec, rnd.Int64N(1e9))))
			return
		}
		for i := range v.NumField() {
			fill(v.Field(i), rnd)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), rnd)
	case reflect.Slice:
		n := 1 + rnd.IntN(5)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			fill(s.Index(i), rnd)
		}
		v.Set(s)
	case reflect.Uint8:
		v.SetUint(uint64(1 + rnd.IntN(255)))
	case reflect.Uint64:
		// Small and large, so every varint length is exercised.
		v.SetUint(1 + rnd.Uint64()>>rnd.IntN(64))
	case reflect.Int, reflect.Int64:
		x := int64(rnd.Uint64() >> rnd.IntN(64))
		if x == 0 {
			x = 1
		}
		if rnd.IntN(2) == 0 {
			x = -x
		}
		v.SetInt(x)
	case reflect.Bool:
		v.SetBool(rnd.IntN(2) == 0)
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}

// normalize makes two decodings comparable with DeepEqual: times in UTC
// without a monotonic reading, empty byte strings nil.
func normalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			t := v.Interface().(time.Time)
			if t.IsZero() {
				v.Set(reflect.ValueOf(time.Time{}))
			} else {
				v.Set(reflect.ValueOf(t.Round(0).UTC()))
			}
			return
		}
		for i := range v.NumField() {
			normalize(v.Field(i))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			normalize(v.Elem())
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		for i := range v.Len() {
			normalize(v.Index(i))
		}
	}
}

// msgpackRoundTrip encodes v as raft's NetworkTransport does and decodes it
// into a fresh value.
func msgpackRoundTrip(t *testing.T, m message, v any) any {
	t.Helper()
	h := &codec.MsgpackHandle{}
	h.TimeNotBuiltin = false
	var buf bytes.Buffer
	if err := codec.NewEncoder(&buf, h).Encode(v); err != nil {
		t.Fatalf("%s: msgpack encode: %v", m.name, err)
	}
	out := m.newT()
	if err := codec.NewDecoder(&buf, h).Decode(out); err != nil {
		t.Fatalf("%s: msgpack decode: %v", m.name, err)
	}
	return out
}

// TestRoundTripMatchesMsgpack: for random values with every field set,
// decode(encode(v)) equals v, and equals what raft's msgpack carries.
func TestRoundTripMatchesMsgpack(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, m := range messages {
		for i := range 300 {
			v := m.newT()
			fill(reflect.ValueOf(v).Elem(), rnd)
			enc := m.encode([]byte{0xEE}, v)[1:] // appends, keeping dst
			got := m.newT()
			if err := m.decode(enc, got); err != nil {
				t.Fatalf("%s #%d: decode: %v", m.name, i, err)
			}
			viaMsgpack := msgpackRoundTrip(t, m, v)
			for _, x := range []any{v, got, viaMsgpack} {
				normalize(reflect.ValueOf(x).Elem())
			}
			if !reflect.DeepEqual(got, v) {
				t.Fatalf("%s #%d: round trip\n got %+v\nwant %+v", m.name, i, got, v)
			}
			if !reflect.DeepEqual(got, viaMsgpack) {
				t.Fatalf("%s #%d: differs from msgpack\n got %+v\nmsgpack %+v", m.name, i, got, viaMsgpack)
			}
			// Every strict prefix is refused: no message decodes short.
			for cut := range len(enc) {
				if err := m.decode(enc[:cut], m.newT()); err == nil {
					t.Fatalf("%s #%d: a %d-byte prefix of %d decoded", m.name, i, cut, len(enc))
				}
			}
			if err := m.decode(append(enc, 0), m.newT()); err == nil {
				t.Fatalf("%s #%d: a trailing byte was accepted", m.name, i)
			}
		}
	}
}

// TestZeroValues: the zero value of each message round-trips (empty
// strings, no entries, zero time).
func TestZeroValues(t *testing.T) {
	for _, m := range messages {
		v := m.newT()
		got := m.newT()
		if err := m.decode(m.encode(nil, v), got); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Fatalf("%s: got %+v", m.name, got)
		}
	}
	req := &raft.AppendEntriesRequest{Entries: []*raft.Log{{}}}
	var got raft.AppendEntriesRequest
	if err := DecodeAppendEntriesRequest(EncodeAppendEntriesRequest(nil, req), &got); err != nil || len(got.Entries) != 1 || !got.Entries[0].AppendedAt.IsZero() {
		t.Fatalf("zero log: %+v, %v", got.Entries, err)
	}
}
