package resp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Handler implements commands.
//
// Dispatch is called on the connection's reader goroutine, in request
// order, and must not block for long: it parses args and updates
// connection state (protocol version, Conn.State). It either writes the
// complete reply into r and returns nil, or returns a function that the
// server runs in its own goroutine. That function may block (on raft, say)
// and must write exactly one complete reply into r before returning; ctx is
// cancelled when the connection or the server closes. Replies reach the
// socket in request order whatever order they complete in, so the requests
// of a pipeline execute concurrently.
//
// A third way suits replies that wait on something shared by many
// requests (a quorum round, say): Dispatch calls r.Defer and returns nil,
// and whoever holds the Deferred completes the reply later from any
// goroutine. That costs no goroutine per request.
//
// Neither Dispatch nor the function may use r after finishing (unless it
// deferred r); args are theirs to keep (see Reader.ReadCommand). A panic in
// either is recovered and answered with an ERR reply in place of whatever
// was written, except after Defer, when the reply belongs to the Deferred's
// holder.
type Handler interface {
	Dispatch(c *Conn, args [][]byte, r *Reply) func(ctx context.Context)
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(c *Conn, args [][]byte, r *Reply) func(ctx context.Context)

// Dispatch calls f.
func (f HandlerFunc) Dispatch(c *Conn, args [][]byte, r *Reply) func(ctx context.Context) {
	return f(c, args, r)
}

// Reply collects the reply to one request. Its Writer uses the
// connection's protocol version at the moment of dispatch (HELLO may
// change it with SetProto).
type Reply struct {
	*Writer

	c        *Conn // nil for a Reply not made by a Conn
	sl       *slot
	deferred bool // Defer was called
}

// ServerConfig configures a Server. Zero fields take the defaults of
// DefaultServerConfig.
type ServerConfig struct {
	Limits Limits
	// MaxConns is the most open connections; beyond it a new connection
	// gets "-BUSY too many connections" and is closed. Default 10000.
	MaxConns int
	// MaxInflight is the most requests of one connection between dispatch
	// and being written; when reached the connection's reader stops
	// reading, so TCP flow control pushes back on the client. Default 1024.
	MaxInflight int
	// MaxPendingBytes is the most reply bytes of one connection that are
	// complete but not yet written to the socket; beyond it the connection
	// is closed (a client that sends but does not read). Default 64 MiB.
	MaxPendingBytes int
	// MaxPushBytes is the most unwritten output (replies and pushes) a
	// connection may have when a push is added; beyond it the connection
	// is closed, like Redis's client-output-buffer-limit for pub/sub
	// clients. Default 32 MiB (Redis's pubsub hard limit).
	MaxPushBytes int
	// WriteTimeout bounds each write to the socket; a client that stops
	// reading its replies is disconnected. Default 30s; negative disables.
	WriteTimeout time.Duration
	// IdleTimeout closes a connection that sends nothing for this long
	// while none of its requests is in flight. 0 disables.
	IdleTimeout time.Duration
	// MaxRunning is the most handler functions (the asynchronous part of
	// a request, one goroutine each) running at once across all
	// connections. A request that would exceed it is answered
	// "-BUSY server busy" without running, so many connections that each
	// pipeline up to MaxInflight requests cannot make the node hold an
	// unbounded number of goroutines. Deferred replies (Reply.Defer) hold
	// no goroutine and are not counted. Default 4096.
	MaxRunning int
}

// DefaultServerConfig returns the default configuration.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		Limits:          DefaultLimits(),
		MaxConns:        10000,
		MaxInflight:     1024,
		MaxPendingBytes: 64 << 20,
		MaxPushBytes:    32 << 20,
		WriteTimeout:    30 * time.Second,
		MaxRunning:      4096,
	}
}

func (c ServerConfig) withDefaults() ServerConfig {
	d := DefaultServerConfig()
	c.Limits = c.Limits.withDefaults()
	if c.MaxConns <= 0 {
		c.MaxConns = d.MaxConns
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = d.MaxInflight
	}
	if c.MaxPendingBytes <= 0 {
		c.MaxPendingBytes = d.MaxPendingBytes
	}
	if c.MaxPushBytes <= 0 {
		c.MaxPushBytes = d.MaxPushBytes
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.MaxRunning <= 0 {
		c.MaxRunning = d.MaxRunning
	}
	return c
}

const (
	// lingerTimeout and lingerBytes bound how long a connection we close on
	// purpose (QUIT, protocol error, too many connections) keeps draining
	// the client's unread input after sending its last reply. Closing a TCP
	// socket with unread input sends RST, which can destroy that reply
	// before the client reads it.
	lingerTimeout = time.Second
	lingerBytes   = 1 << 20
)

// Server accepts RESP connections and runs Handler on their requests.
type Server struct {
	cfg    ServerConfig
	h      Handler
	log    *slog.Logger
	ctx    context.Context // cancelled by Close; parent of every Conn's ctx
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*Conn]struct{}
	rejecting map[net.Conn]struct{} // connections being refused (MaxConns)
	nextID    uint64
	wg        sync.WaitGroup // connection goroutines; Add only under mu while !closed

	// running counts handler functions running (see MaxRunning).
	running atomic.Int64

	slots sync.Pool // *slot
	outs  sync.Pool // *[]byte, coalescing buffers of writers with data to send

	stats serverStats // see Stats
}

// NewServer returns a server that runs h. A nil logger discards logs.
func NewServer(cfg ServerConfig, h Handler, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:       cfg.withDefaults(),
		h:         h,
		log:       logger,
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*Conn]struct{}),
		rejecting: make(map[net.Conn]struct{}),
	}
}

// Serve accepts connections on l until Close is called, then returns nil.
// It returns an error if accepting fails for another reason. l is closed
// when Serve returns.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = l.Close()
		return nil
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		_ = l.Close()
	}()

	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				// EMFILE and friends: wait for descriptors to free up
				// rather than spin or give up.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("resp: accept failed; retrying", "err", err, "delay", backoff)
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-s.ctx.Done():
					t.Stop()
				}
				continue
			}
			return err
		}
		backoff = 0
		s.accept(nc)
	}
}

func (s *Server) accept(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		_ = nc.Close()
	case len(s.conns) >= s.cfg.MaxConns:
		s.rejecting[nc] = struct{}{}
		s.stats.connsRejected.Add(1)
		s.wg.Add(1)
		go s.reject(nc)
	default:
		s.nextID++
		s.stats.connsAccepted.Add(1)
		c := newConn(s, nc, s.nextID)
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		go c.serve()
	}
}

// reject refuses a connection beyond MaxConns with a BUSY error.
func (s *Server) reject(nc net.Conn) {
	defer s.wg.Done()
	s.log.Warn("resp: too many connections; refusing", "remote", nc.RemoteAddr(), "max", s.cfg.MaxConns)
	_ = nc.SetWriteDeadline(time.Now().Add(lingerTimeout))
	if _, err := io.WriteString(nc, "-BUSY too many connections\r\n"); err == nil {
		linger(nc)
	}
	_ = nc.Close()
	s.mu.Lock()
	delete(s.rejecting, nc)
	s.mu.Unlock()
}

// linger half-closes nc and drains its input for a while, so the reply we
// just wrote is not destroyed by a RST (see lingerTimeout).
func linger(nc net.Conn) {
	cw, ok := nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	if nc.SetReadDeadline(time.Now().Add(lingerTimeout)) != nil {
		return
	}
	_, _ = io.CopyN(io.Discard, nc, lingerBytes)
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) removeConn(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Running returns the number of handler functions running now.
func (s *Server) Running() int { return int(s.running.Load()) }

// NumConns returns the number of open client connections.
func (s *Server) NumConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops the listeners, closes every connection, cancels the context
// of running handler functions and waits for all of the server's
// goroutines, including those functions, to return.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	var err error
	for l := range s.listeners {
		if e := l.Close(); e != nil && !errors.Is(e, net.ErrClosed) {
			err = errors.Join(err, e)
		}
	}
	for c := range s.conns {
		c.abort()
	}
	for nc := range s.rejecting {
		_ = nc.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return err
}

// getSlot returns an empty slot of c whose reply uses c's protocol.
func (s *Server) getSlot(c *Conn) *slot {
	sl, _ := s.slots.Get().(*slot)
	if sl == nil {
		sl = new(slot)
		sl.reply.Writer = &sl.w
		sl.reply.sl = sl
	}
	sl.reply.c = c
	sl.w.SetProto(c.Proto())
	return sl
}

// putSlot recycles a slot whose reply has been consumed. Unusually large
// reply buffers are dropped rather than pinned in the pool.
func (s *Server) putSlot(sl *slot) {
	if cap(sl.w.buf) > maxPooledReply {
		sl.w.buf = nil
	}
	sl.w.buf = sl.w.buf[:0]
	sl.done, sl.close, sl.push = false, false, false
	sl.reply.c, sl.reply.deferred = nil, false
	s.slots.Put(sl)
}
