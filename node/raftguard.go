package node

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/transport/mux"
)

// The raft message guard: with internal TLS, every raft RPC that arrives
// must name, as its sender, the node whose certificate the connection
// proved. The mux already proves who is at the other end of a raft stream,
// but raft's NetworkTransport believes what each message says about its
// sender (RPCHeader.ID and Addr, and the older Leader and Candidate
// address fields): a member with a valid certificate for node B could
// otherwise send AppendEntries, votes or TimeoutNow in node A's name.
//
// hashicorp/raft gives a transport no hook between decoding a message and
// acting on it, and the RPCs it hands on do not say which connection they
// came by. So the guard sits under raft's transport, on the connection:
// it reads each message (its type byte and its msgpack body, with the same
// codec raft decodes them with), checks the sender fields with a
// raftRPCCheck, and only then lets raft read the message's bytes. A
// message that fails the check never reaches raft: the connection is
// closed. An InstallSnapshot's snapshot bytes, which follow the message,
// pass through unread.
//
// Why raft's codec and not a smaller parser of our own: the guard must
// read a message exactly as raft will (duplicate keys, other encodings of
// a []byte, field name matching, inlined embedded structs). Decoding with
// the same codec and handle into a struct of the same shape (raft's
// RPCHeader embedded, the same field names) makes that true by
// construction. The cost is a second decode of each message: about as
// much CPU again as raft's own decode on a follower's receive path
// (BenchmarkRaftGuard: 64 entries of 1 KiB per message, about 420 MB/s
// straight and 220 MB/s guarded on the 2-core development machine).
// Only nodes with internal TLS pay it.

// The message types of raft's NetworkTransport wire format (its
// unexported rpcAppendEntries... constants, in their iota order).
const (
	raftMsgAppendEntries uint8 = iota
	raftMsgRequestVote
	raftMsgInstallSnapshot
	raftMsgTimeoutNow
	raftMsgRequestPreVote
)

// raftMsgHead is the part of any raft request the guard looks at. The
// codec inlines the embedded RPCHeader, as it does in raft's own request
// structs, and skips the fields not named here (entries, configurations).
type raftMsgHead struct {
	raft.RPCHeader
	Leader    []byte // AppendEntries, InstallSnapshot
	Candidate []byte // RequestVote
	Size      int64  // InstallSnapshot: snapshot bytes after the message
}

// request rebuilds the typed request of msg type t from what was decoded,
// for the check.
func (h *raftMsgHead) request(t uint8) (raft.WithRPCHeader, error) {
	switch t {
	case raftMsgAppendEntries:
		return &raft.AppendEntriesRequest{RPCHeader: h.RPCHeader, Leader: h.Leader}, nil
	case raftMsgRequestVote:
		return &raft.RequestVoteRequest{RPCHeader: h.RPCHeader, Candidate: h.Candidate}, nil
	case raftMsgRequestPreVote:
		return &raft.RequestPreVoteRequest{RPCHeader: h.RPCHeader}, nil
	case raftMsgInstallSnapshot:
		if h.Size < 0 {
			return nil, fmt.Errorf("raft InstallSnapshot with negative size %d", h.Size)
		}
		return &raft.InstallSnapshotRequest{RPCHeader: h.RPCHeader, Leader: h.Leader, Size: h.Size}, nil
	case raftMsgTimeoutNow:
		return &raft.TimeoutNowRequest{RPCHeader: h.RPCHeader}, nil
	}
	return nil, fmt.Errorf("unknown raft message type %d", t)
}

// errRaftRefused ends a guarded connection whose message failed the check.
var errRaftRefused = fmt.Errorf("%w: raft message refused", mux.ErrIdentity)

// guardedStreamLayer is a raft.StreamLayer whose accepted connections pass
// every message through check before raft reads it.
type guardedStreamLayer struct {
	raft.StreamLayer
	// certID names the node an accepted connection's certificate proved;
	// ok false means nothing was proven and the connection is dropped.
	certID func(net.Conn) (id string, ok bool)
	check  raftRPCCheck
	// refused is told about each refused message (count and log); it
	// must not block.
	refused func(certID string, err error)
}

// Accept returns the next inbound connection, guarded. A connection
// without a proven identity is closed and the next one awaited, rather
// than failing Accept: raft backs off after an Accept error, which would
// let one bad peer slow down everyone's connections.
func (l *guardedStreamLayer) Accept() (net.Conn, error) {
	for {
		c, err := l.StreamLayer.Accept()
		if err != nil {
			return nil, err
		}
		id, ok := l.certID(c)
		if !ok {
			l.refused("", fmt.Errorf("%w: raft connection without a proven node id", mux.ErrIdentity))
			c.Close()
			continue
		}
		return newGuardedConn(c, id, l.check, l.refused), nil
	}
}

// guardedConn is one inbound raft connection under the guard. Reads are
// served from the message checked last (out[off:]), then from the
// snapshot bytes that follow it (pass), and then the next message is read
// and checked. Only raft's connection goroutine reads it.
type guardedConn struct {
	net.Conn
	certID  string
	check   raftRPCCheck
	refused func(string, error)

	rec  recorder
	dec  *codec.Decoder
	out  []byte
	off  int
	pass int64
	err  error
}

// guardBufSize is the read buffer under the guard; raft adds its own.
const guardBufSize = 64 << 10

// guardKeepBuf is the largest message buffer kept between messages; a
// bigger one (a large AppendEntries) is dropped after use.
const guardKeepBuf = 1 << 20

func newGuardedConn(c net.Conn, certID string, check raftRPCCheck, refused func(string, error)) *guardedConn {
	g := &guardedConn{Conn: c, certID: certID, check: check, refused: refused}
	g.rec.r = bufio.NewReaderSize(c, guardBufSize)
	// The handle raft's handleConn decodes with; no read-ahead buffer,
	// so the decoder consumes exactly one message.
	g.dec = codec.NewDecoder(&g.rec, &codec.MsgpackHandle{})
	return g
}

func (g *guardedConn) Read(p []byte) (int, error) {
	if g.off == len(g.out) {
		if g.pass > 0 {
			if int64(len(p)) > g.pass {
				p = p[:g.pass]
			}
			n, err := g.rec.r.Read(p)
			g.pass -= int64(n)
			return n, err
		}
		if g.err != nil {
			return 0, g.err
		}
		if g.err = g.next(); g.err != nil {
			return 0, g.err
		}
	}
	n := copy(p, g.out[g.off:])
	g.off += n
	return n, nil
}

// next reads and checks one message into out. io.EOF at a message
// boundary is returned as is (raft treats it as the peer hanging up).
func (g *guardedConn) next() error {
	if cap(g.out) > guardKeepBuf {
		g.out = nil
	}
	g.rec.buf, g.off = g.out[:0], 0
	g.out = nil
	t, err := g.rec.ReadByte()
	if err != nil {
		return err
	}
	var h raftMsgHead
	if err := g.dec.Decode(&h); err != nil {
		return noEOF(err)
	}
	req, err := h.request(t)
	if err == nil {
		err = g.check(g.certID, req)
	}
	if err != nil {
		// Raft sees a clean hang-up at a message boundary (io.EOF), which
		// it does not log: the refusal is logged once, rate-limited, by
		// refused, so a peer cannot flood the log through raft either.
		g.refused(g.certID, fmt.Errorf("%w: %w", errRaftRefused, err))
		g.Conn.Close()
		return io.EOF
	}
	g.out = g.rec.buf
	g.rec.buf = nil
	if t == raftMsgInstallSnapshot {
		g.pass = h.Size
	}
	return nil
}

// noEOF turns an EOF inside a message into ErrUnexpectedEOF, so raft
// reports a truncated message instead of a clean hang-up.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// recorder is an io.Reader and io.ByteScanner over r that keeps every byte
// it hands out (and forgets one given back) in buf.
type recorder struct {
	r   *bufio.Reader
	buf []byte
}

func (z *recorder) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	z.buf = append(z.buf, p[:n]...)
	return n, err
}

func (z *recorder) ReadByte() (byte, error) {
	b, err := z.r.ReadByte()
	if err == nil {
		z.buf = append(z.buf, b)
	}
	return b, err
}

func (z *recorder) UnreadByte() error {
	if len(z.buf) == 0 {
		return bufio.ErrInvalidUnreadByte
	}
	if err := z.r.UnreadByte(); err != nil {
		return err
	}
	z.buf = z.buf[:len(z.buf)-1]
	return nil
}

// raftGuardStats counts what the guard refused, for INFO and /metrics.
type raftGuardStats struct {
	refused atomic.Uint64
	warnAt  atomic.Int64 // unix ns of the last warning
}
