//go:build unix

package client

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// A node older than PACKED refuses it; Get then reads the map form from
// it, and leaves PACKED out of its next reads there. An older node
// refuses the option itself, or, in a Get of eight arguments (stale with
// MAXSTALE and NOTOUCH), the count: it allows seven.
func TestGetFromServerWithoutPacked(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"option", nil},
		{"arity", []Option{WithConsistency(Stale), WithMaxStaleness(time.Second), WithoutTouch()}},
	} {
		t.Run(tc.name, func(t *testing.T) { testGetWithoutPacked(t, tc.opts) })
	}
}

// olderNode is a fake node of a version before PACKED, which counts the
// SESSION.GETs and SESSION.CREATEs it gets, and those with PACKED.
type olderNode struct {
	gets, packedGets, creates, packedCreates atomic.Int64
	// noPerm: a PACKED create gets NOPERM, as from an older node whose
	// ACL check reads its keys wrongly for a user limited to some keys.
	noPerm bool
}

func startOlderNode(t *testing.T, noPerm bool) (string, *olderNode) {
	o := &olderNode{noPerm: noPerm}
	addr := fakeNode(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			args, err := readCommand(r)
			if err != nil {
				return
			}
			reply := "+OK\r\n"
			switch strings.ToUpper(args[0]) {
			case "HELLO":
				reply = "*2\r\n$5\r\nproto\r\n:2\r\n"
			case "SESSION.CREATE":
				o.creates.Add(1)
				reply = oldRecord
				if args[1] == "PACKED" {
					o.packedCreates.Add(1)
					reply = "-BADARG syntax error near 'PACKED' (SESSION.CREATE [SUBJECT s] ...)\r\n"
					if o.noPerm {
						reply = "-NOPERM No permissions to access a key\r\n"
					}
				}
			case "SESSION.GET":
				o.gets.Add(1)
				switch {
				case len(args) > 7:
					o.packedGets.Add(1)
					reply = "-ERR wrong number of arguments for 'session.get' command\r\n"
				case args[len(args)-1] == "PACKED":
					o.packedGets.Add(1)
					reply = "-BADARG syntax error near 'PACKED'\r\n"
				default:
					reply = oldRecord
				}
			}
			if _, err := io.WriteString(c, reply); err != nil {
				return
			}
		}
	})
	return addr, o
}

func testGetWithoutPacked(t *testing.T, opts []Option) {
	addr, o := startOlderNode(t, false)
	c := routedClient(t, 0, addr)
	ctx := testCtx(t)
	for i := range 3 {
		s, err := c.Get(ctx, "s1", opts...)
		if err != nil {
			t.Fatalf("Get %d: %v", i, err)
		}
		if s.ID != "s1" || s.Subject != "alice" || s.Version != 9 || string(s.Fields["cart"]) != "3" {
			t.Fatalf("Get %d: %+v", i, s)
		}
	}
	if p, g := o.packedGets.Load(), o.gets.Load(); p != 1 || g != 4 {
		t.Fatalf("%d SESSION.GETs, %d with PACKED; want 4 and 1 (refused once, then left out)", g, p)
	}
	// Creates keep their own record: the first asks for PACKED (a node
	// may take it for Get and not yet for Create), the second does not.
	for i := range 2 {
		s, err := c.Create(ctx, WithSubject("alice"))
		if err != nil || s.ID != "s1" {
			t.Fatalf("Create %d: %+v, %v", i, s, err)
		}
	}
	if p, n := o.packedCreates.Load(), o.creates.Load(); p != 1 || n != 3 {
		t.Fatalf("%d SESSION.CREATEs, %d with PACKED; want 3 and 1", n, p)
	}
}

// A Create sent first to a node older than PACKED: refused (nothing
// applied), sent again without it, once.
func TestCreateFromServerWithoutPacked(t *testing.T) {
	addr, o := startOlderNode(t, false)
	c := routedClient(t, 0, addr)
	s, err := c.Create(testCtx(t), WithSubject("alice"), WithFields(map[string][]byte{"cart": b("3")}))
	if err != nil || s.Subject != "alice" || string(s.Fields["cart"]) != "3" {
		t.Fatalf("Create: %+v, %v", s, err)
	}
	if p, n := o.packedCreates.Load(), o.creates.Load(); p != 1 || n != 2 {
		t.Fatalf("%d SESSION.CREATEs, %d with PACKED; want 2 and 1", n, p)
	}
}

// An older node's ACL check may refuse a PACKED create (it reads the
// keys one place off): the create is sent again without PACKED, and the
// node is not taken for one that refuses PACKED (a NOPERM may be real).
func TestCreateNoPermFromOlderNode(t *testing.T) {
	addr, o := startOlderNode(t, true)
	c := routedClient(t, 0, addr)
	for i := range 2 {
		if _, err := c.Create(testCtx(t), WithSubject("alice")); err != nil {
			t.Fatalf("Create %d: %v", i, err)
		}
	}
	if p, n := o.packedCreates.Load(), o.creates.Load(); p != 2 || n != 4 {
		t.Fatalf("%d SESSION.CREATEs, %d with PACKED; want 4 and 2", n, p)
	}
}

// oldRecord is a record in the map form (RESP2), as a server older than
// PACKED answers.
const oldRecord = "*18\r\n$2\r\nid\r\n$2\r\ns1\r\n$7\r\nsubject\r\n$5\r\nalice\r\n$7\r\nversion\r\n:9\r\n" +
	"$10\r\ncreated_ms\r\n:1000\r\n$14\r\nlast_access_ms\r\n:2000\r\n$7\r\nidle_ms\r\n:0\r\n" +
	"$20\r\nabsolute_deadline_ms\r\n:0\r\n$13\r\nexpires_at_ms\r\n:0\r\n" +
	"$6\r\nfields\r\n*2\r\n$4\r\ncart\r\n$1\r\n3\r\n"

// Get reads the packed form: the session is the record the server packed,
// and its field values are the client's to modify.
func TestParsePackedSession(t *testing.T) {
	rec := wire.Record{ID: "id1", Subject: "bob", Version: 5, CreatedMS: 1000, LastAccessMS: 2000, IdleMS: 60000, AbsDeadlineMS: 9000, ExpiresAtMS: 62000}
	b := wire.AppendPacked(nil, &rec, 2, func(yield func(string, []byte) bool) {
		_ = yield("a", []byte("xy")) && yield("b", []byte("z"))
	})
	s, err := parsePackedSession(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "id1" || s.Subject != "bob" || s.Version != 5 || s.IdleTimeout.Milliseconds() != 60000 ||
		s.Created.UnixMilli() != 1000 || s.LastAccess.UnixMilli() != 2000 || s.AbsoluteDeadline.UnixMilli() != 9000 ||
		s.ExpiresAt.UnixMilli() != 62000 || string(s.Fields["a"]) != "xy" || string(s.Fields["b"]) != "z" || len(s.Fields) != 2 {
		t.Fatalf("%+v", s)
	}
	s.Fields["a"] = append(s.Fields["a"], '!') // must not overwrite b
	if string(s.Fields["b"]) != "z" {
		t.Fatalf("appending to a field overwrote the next: %q", s.Fields["b"])
	}
	if _, err := parsePackedSession(string(b[:len(b)-1])); err == nil {
		t.Fatal("a truncated record parsed")
	}
}
