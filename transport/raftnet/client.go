package raftnet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/transport/raftcodec"
)

// clientConn is a dialed connection. Synchronous RPCs take one from the
// peer's idle list for one request and response; a pipeline keeps one.
type clientConn struct {
	c      net.Conn
	br     *bufio.Reader
	target raft.ServerAddress
	hello  bool // protoVersion not sent yet
}

// encBufs recycles the encode buffers of synchronous RPCs.
var encBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// getConn returns an idle connection to target, or dials one; reused
// reports which.
func (t *Transport) getConn(target raft.ServerAddress) (cc *clientConn, reused bool, err error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, false, shutdownErr()
	}
	if idle := t.pools[target]; len(idle) > 0 {
		cc = idle[len(idle)-1]
		t.pools[target] = idle[:len(idle)-1]
		t.mu.Unlock()
		return cc, true, nil
	}
	t.mu.Unlock()
	c, err := t.cfg.Stream.Dial(target, t.cfg.Timeout)
	if err != nil {
		return nil, false, err
	}
	return &clientConn{c: c, br: bufio.NewReaderSize(c, 16<<10), target: target, hello: true}, false, nil
}

// putConn keeps cc for reuse, or closes it when enough are idle.
func (t *Transport) putConn(cc *clientConn) {
	cc.c.SetDeadline(time.Time{})
	t.mu.Lock()
	if !t.closed && len(t.pools[cc.target]) < t.cfg.MaxIdlePerPeer {
		t.pools[cc.target] = append(t.pools[cc.target], cc)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	cc.c.Close()
}

// call sends one request and decodes its response. snap, when set, is
// streamed after the request (InstallSnapshot). A connection that was
// idle may have been closed by the peer meanwhile (it restarted): a
// failure on one is retried once on a fresh connection, except for a
// snapshot, whose data cannot be read twice. Raft's RPCs are safe to
// repeat.
func (t *Transport) call(target raft.ServerAddress, typ byte, enc func([]byte) []byte, dec func([]byte) error, snap io.Reader, snapSize int64) error {
	for attempt := 0; ; attempt++ {
		cc, reused, err := t.getConn(target)
		if err != nil {
			return err
		}
		err, rpcErr := t.roundTrip(cc, typ, enc, dec, snap, snapSize)
		if err == nil {
			if rpcErr != nil && strings.HasPrefix(rpcErr.Error(), ErrPeerRefused.Error()) {
				// The peer closes a connection after refusing an RPC
				// on it: reusing it would fail the next call.
				cc.c.Close()
				return rpcErr
			}
			t.putConn(cc)
			return rpcErr
		}
		cc.c.Close()
		if !reused || snap != nil || attempt > 0 || errors.Is(err, ErrFrameTooLarge) || t.isClosed() {
			return err
		}
	}
}

// roundTrip does one request on cc: err breaks the connection, rpcErr is
// the peer's answer (the connection stays usable).
func (t *Transport) roundTrip(cc *clientConn, typ byte, enc func([]byte) []byte, dec func([]byte) error, snap io.Reader, snapSize int64) (err, rpcErr error) {
	timeout := t.cfg.Timeout
	if snap != nil {
		timeout *= time.Duration(1 + snapSize/snapshotScale)
	}
	cc.c.SetDeadline(time.Now().Add(timeout))
	bp := encBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	if cc.hello {
		buf = append(buf, protoVersion)
	}
	buf, err = appendFrame(buf, typ, t.cfg.MaxFrameBytes, enc)
	if err == nil {
		// One write: header, message and, for small snapshots, nothing
		// else; the snapshot follows in 64 KiB writes.
		_, err = cc.c.Write(buf)
	}
	if cap(buf) <= 1<<20 {
		*bp = buf
		encBufs.Put(bp)
	}
	if err != nil {
		return err, nil
	}
	cc.hello = false
	if snap != nil {
		bw := bufio.NewWriterSize(cc.c, 64<<10)
		n, err := io.CopyN(bw, snap, snapSize)
		if err == nil {
			err = bw.Flush()
		}
		if err != nil {
			return fmt.Errorf("sending snapshot (%d of %d bytes): %w", n, snapSize, err), nil
		}
	}
	status, body, err := readFrame(cc.br, t.cfg.MaxFrameBytes)
	if err != nil {
		return err, nil
	}
	text, msg, err := splitResponse(status, body)
	if err != nil {
		return err, nil
	}
	if err := dec(msg); err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err), nil
	}
	if text != "" {
		return nil, errors.New(text)
	}
	return nil, nil
}

// AppendEntries implements raft.Transport.
func (t *Transport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	var err error
	if t.cfg.SendLegacy {
		err = t.cfg.Legacy.AppendEntries(id, target, args, resp)
	} else {
		now := time.Now()
		if t.idle.reuse(target, args, resp, now) {
			t.idleReused.Add(1)
			return nil // idle.go: not news, and not contact for OnAppend
		}
		err = t.call(target, typeAppendEntries,
			func(b []byte) []byte { return raftcodec.EncodeAppendEntriesRequest(b, args) },
			func(b []byte) error { return raftcodec.DecodeAppendEntriesResponse(b, resp) }, nil, 0)
		t.idle.record(target, args, resp, err, now)
	}
	if err == nil && t.cfg.OnAppend != nil {
		t.cfg.OnAppend(id, resp)
	}
	return err
}

// RequestVote implements raft.Transport.
func (t *Transport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	if t.cfg.SendLegacy {
		return t.cfg.Legacy.RequestVote(id, target, args, resp)
	}
	return t.call(target, typeRequestVote,
		func(b []byte) []byte { return raftcodec.EncodeRequestVoteRequest(b, args) },
		func(b []byte) error { return raftcodec.DecodeRequestVoteResponse(b, resp) }, nil, 0)
}

// RequestPreVote implements raft.WithPreVote.
func (t *Transport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	if t.cfg.SendLegacy {
		return t.cfg.Legacy.RequestPreVote(id, target, args, resp)
	}
	return t.call(target, typeRequestPreVote,
		func(b []byte) []byte { return raftcodec.EncodeRequestPreVoteRequest(b, args) },
		func(b []byte) error { return raftcodec.DecodeRequestPreVoteResponse(b, resp) }, nil, 0)
}

// InstallSnapshot implements raft.Transport: the request, then exactly
// args.Size bytes of data, on a connection of its own for the duration.
func (t *Transport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	if t.cfg.SendLegacy {
		return t.cfg.Legacy.InstallSnapshot(id, target, args, resp, data)
	}
	if args.Size < 0 {
		return fmt.Errorf("%w: snapshot size %d", ErrProtocol, args.Size)
	}
	return t.call(target, typeInstallSnapshot,
		func(b []byte) []byte { return raftcodec.EncodeInstallSnapshotRequest(b, args) },
		func(b []byte) error { return raftcodec.DecodeInstallSnapshotResponse(b, resp) }, data, args.Size)
}

// TimeoutNow implements raft.Transport.
func (t *Transport) TimeoutNow(id raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	if t.cfg.SendLegacy {
		return t.cfg.Legacy.TimeoutNow(id, target, args, resp)
	}
	return t.call(target, typeTimeoutNow,
		func(b []byte) []byte { return raftcodec.EncodeTimeoutNowRequest(b, args) },
		func(b []byte) error { return raftcodec.DecodeTimeoutNowResponse(b, resp) }, nil, 0)
}
