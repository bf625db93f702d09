package mux

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
)

// RPCHandler serves internal RPC requests. It is invoked concurrently, one
// goroutine per request. ctx ends when the calling connection breaks or the
// Mux closes; handlers must honour it because Close waits for them. The
// returned payload is owned by the mux afterwards. A non-nil error is sent
// back as a *RemoteError: its Code is err.Code() if err implements
// interface{ Code() string }, the fields of a wrapped *RemoteError (so
// forwarded errors keep their code), or CodeErr; its Msg is err.Error().
type RPCHandler func(ctx context.Context, method uint8, payload []byte) ([]byte, error)

// Caller identifies the peer that sent an RPC request; handlers get it from
// CallerFrom(ctx).
type Caller struct {
	// ID is the node id the peer's header claims; "" from a peer without
	// one (plaintext, version 1 header).
	ID string
	// Addr is the peer's advertised mux address, as its header claims.
	Addr string
	// Verified is true when the mux runs TLS: ID is then proven by the
	// peer's certificate (and Addr checked against Config.PeerID).
	Verified bool
}

type callerKey struct{}

// CallerFrom returns the caller of the RPC whose handler got ctx.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// codeRespTooLarge is sent when the handler ran but its response does not
// fit in MaxRPCBytes; the caller turns it into ErrConnLost, not a
// RemoteError, because the handler's effect happened but its result is lost.
const codeRespTooLarge = "RESPTOOLARGE"

// HandleRPC installs the RPC handler. Set it before traffic arrives;
// requests arriving while no handler is set get CodeNoHandler.
func (m *Mux) HandleRPC(h RPCHandler) {
	if h == nil {
		m.handler.Store(nil)
		return
	}
	m.handler.Store(&h)
}

// serveRPC runs the read side of an accepted RPC connection.
func (m *Mux) serveRPC(tc *trackedConn, caller Caller) {
	// Handlers get a ctx that ends with the connection: nobody can receive
	// their answer after that.
	ctx, cancel := context.WithCancel(context.WithValue(m.ctx, callerKey{}, caller))
	w := newFrameWriter(tc, m.cfg.WriteTimeout)
	if !m.goFn(func() {
		if err := w.run(); err != nil {
			tc.Close() // unblocks the reader below
		}
	}) {
		cancel()
		tc.Close()
		return
	}
	defer func() {
		cancel()
		tc.Close()
		close(w.stop)
	}()

	fr := &frameReader{br: bufio.NewReaderSize(tc, 64<<10), max: m.cfg.MaxRPCBytes}
	for {
		id, method, payload, err := fr.next()
		if tl, ok := errors.AsType[*frameTooLargeError](err); ok {
			// Skip the body and answer, so only this request fails; the
			// handler does not run.
			if err := fr.skip(tl); err != nil {
				return
			}
			m.replyErr(w, id, CodeTooLarge, fmt.Sprintf("request frame of %d bytes exceeds MaxRPCBytes %d", tl.size, m.cfg.MaxRPCBytes))
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				m.log.Debug("rpc connection read failed", "peer", tc.RemoteAddr().String(), "err", err)
			}
			return
		}
		if dh, ok := m.deferredFor(method); ok {
			m.runDeferred(ctx, w, dh, id, method, payload)
			continue
		}
		hp := m.handler.Load()
		if hp == nil {
			m.replyErr(w, id, CodeNoHandler, "no rpc handler installed")
			continue
		}
		h := *hp
		if m.isInline(method) {
			resp, err := m.runHandler(ctx, h, method, payload)
			m.reply(w, id, resp, err)
			continue
		}
		select {
		case m.sem <- struct{}{}:
		default:
			m.replyErr(w, id, CodeBusy, "too many concurrent rpc handlers")
			continue
		}
		if !m.goFn(func() {
			defer func() { <-m.sem }()
			resp, err := m.runHandler(ctx, h, method, payload)
			m.reply(w, id, resp, err)
		}) {
			<-m.sem
			return
		}
	}
}

// runHandler calls h, turning a panic into an error so one bad request does
// not take the node down.
func (m *Mux) runHandler(ctx context.Context, h RPCHandler, method uint8, payload []byte) (resp []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			resp, err = nil, m.panicked(method, r)
		}
	}()
	return h(ctx, method, payload)
}

// panicked logs a handler's panic r (called from its deferred recover)
// and returns the error its caller is answered with: the request's effect
// is unknown to the mux.
func (m *Mux) panicked(method uint8, r any) error {
	m.log.Error("rpc handler panicked", "method", method, "panic", r, "stack", string(debug.Stack()))
	return &RemoteError{Code: CodePanic, Msg: fmt.Sprint(r)}
}

// reply queues the response to request id.
func (m *Mux) reply(w *frameWriter, id uint64, resp []byte, err error) {
	w.enqueue(m.replyFrame(id, resp, err))
}

// replyFrame is the response frame to request id for a handler's results.
func (m *Mux) replyFrame(id uint64, resp []byte, err error) outFrame {
	if err != nil {
		code, msg := CodeErr, err.Error()
		if re, ok := errors.AsType[*RemoteError](err); ok {
			code, msg = re.Code, re.Msg
		} else if c, ok := errors.AsType[interface {
			error
			Code() string
		}](err); ok && c.Code() != "" {
			code = c.Code()
		}
		return m.errFrame(id, code, msg)
	}
	if frameHeaderLen+len(resp) > m.cfg.MaxRPCBytes {
		return m.errFrame(id, codeRespTooLarge, fmt.Sprintf("response of %d bytes exceeds MaxRPCBytes %d", len(resp), m.cfg.MaxRPCBytes))
	}
	return outFrame{id: id, tag: statusOK, payload: resp}
}

func (m *Mux) replyErr(w *frameWriter, id uint64, code, msg string) {
	w.enqueue(m.errFrame(id, code, msg))
}

func (m *Mux) errFrame(id uint64, code, msg string) outFrame {
	return outFrame{id: id, tag: statusErr, payload: encodeRemoteError(code, msg, m.cfg.MaxRPCBytes)}
}
