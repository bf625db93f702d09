package raftnet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// snapshotScale is how many snapshot bytes each Config.Timeout covers,
// as raft's NetworkTransport scales it.
const snapshotScale = 256 << 10

func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	for {
		c, err := t.cfg.Stream.Accept()
		if err != nil {
			if !t.isClosed() {
				t.log.Warn("accept failed, no more inbound raft connections", "err", err)
			}
			return
		}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			c.Close()
			return
		}
		t.inbound[c] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go func() {
			defer t.wg.Done()
			err := t.serve(c)
			t.mu.Lock()
			delete(t.inbound, c)
			t.mu.Unlock()
			c.Close()
			switch {
			case err == nil, t.isClosed():
			case errors.Is(err, ErrProtocol), errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrPeerRefused):
				// A peer breaking the protocol is worth a warning; a
				// peer going away (killed, partitioned) is not.
				t.log.Warn("closing inbound raft connection", "remote", c.RemoteAddr().String(), "err", err)
			default:
				t.log.Debug("inbound raft connection ended", "remote", c.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

// serve answers one connection's requests in order, one at a time (raft
// handles a group's RPCs one at a time anyway). Responses are buffered and
// flushed when no further request is already buffered, so a burst of
// pipelined requests is answered with one write.
func (t *Transport) serve(c net.Conn) error {
	br := bufio.NewReaderSize(c, 64<<10)
	bw := bufio.NewWriterSize(c, 16<<10)
	v, err := br.ReadByte()
	if err != nil {
		return err
	}
	if v != protoVersion {
		return fmt.Errorf("%w: protocol version %d, this node speaks %d", ErrProtocol, v, protoVersion)
	}
	certID := ""
	if t.cfg.PeerOf != nil {
		if id, ok := t.cfg.PeerOf(c); ok {
			certID = id
		}
	}
	respCh := make(chan raft.RPCResponse, 1)
	var out []byte
	for {
		typ, body, err := readFrame(br, t.cfg.MaxFrameBytes)
		if err != nil {
			return err
		}
		cmd, _, err := decodeRequest(typ, body)
		if err != nil {
			return err
		}
		if t.cfg.CheckPeer != nil {
			if err := t.cfg.CheckPeer(certID, cmd.(raft.WithRPCHeader)); err != nil {
				err = fmt.Errorf("%w: %w", ErrPeerRefused, err)
				// After the responses still buffered, so the peer
				// matches it to the right request.
				out, _ = appendResponse(out[:0], err, t.cfg.MaxFrameBytes, responseEncoder(typ, nil))
				c.SetWriteDeadline(time.Now().Add(t.cfg.Timeout))
				if _, werr := bw.Write(out); werr == nil {
					bw.Flush()
				}
				return err
			}
		}
		rpc := raft.RPC{Command: cmd, RespChan: respCh}
		var snap *io.LimitedReader
		if req, ok := cmd.(*raft.InstallSnapshotRequest); ok {
			if req.Size < 0 {
				return fmt.Errorf("%w: snapshot size %d", ErrProtocol, req.Size)
			}
			snap = &io.LimitedReader{R: br, N: req.Size}
			rpc.Reader = snap
			// raft reads the snapshot on its main goroutine: a sender
			// that stops mid-stream must not stall it for ever.
			c.SetReadDeadline(time.Now().Add(t.cfg.Timeout * time.Duration(1+req.Size/snapshotScale)))
		}
		if err := t.dispatch(rpc, cmd); err != nil {
			return err
		}
		var resp raft.RPCResponse
		select {
		case resp = <-respCh:
		case <-t.shutdownCh:
			return shutdownErr()
		}
		if snap != nil {
			if snap.N != 0 {
				// raft stopped reading (an error); the rest of the
				// snapshot is still on the wire, so the stream cannot
				// carry another frame.
				return fmt.Errorf("%w: %d snapshot bytes left unread", ErrProtocol, snap.N)
			}
			c.SetReadDeadline(time.Time{})
		}
		out, err = appendResponse(out[:0], resp.Error, t.cfg.MaxFrameBytes, responseEncoder(typ, resp.Response))
		if err != nil {
			return err
		}
		if _, err := bw.Write(out); err != nil {
			return err
		}
		if cap(out) > 1<<20 {
			out = nil
		}
		if br.Buffered() == 0 {
			c.SetWriteDeadline(time.Now().Add(t.cfg.Timeout))
			if err := bw.Flush(); err != nil {
				return err
			}
		}
	}
}

// dispatch hands rpc to the heartbeat handler (heartbeats, when one is
// set) or to raft's consumer.
func (t *Transport) dispatch(rpc raft.RPC, cmd any) error {
	if ae, ok := cmd.(*raft.AppendEntriesRequest); ok && isHeartbeat(ae) {
		if fn := t.heartbeatFn(); fn != nil {
			fn(rpc)
			return nil
		}
	}
	select {
	case t.consumeCh <- rpc:
		return nil
	case <-t.shutdownCh:
		return shutdownErr()
	}
}
