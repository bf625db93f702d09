package admit

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// Listener is a TLS listener whose Accept returns connections that have
// completed their handshake. Connections are admitted by a Gate as they
// arrive; each admitted one shakes hands on its own goroutine within the
// gate's HandshakeTimeout, so at most MaxHandshakes such goroutines exist
// and a slow or silent peer delays nobody else's Accept. (crypto/tls's own
// listener defers the handshake to the first Read, on whatever goroutine
// the server gives each connection, unbounded.)
type Listener struct {
	inner net.Listener
	conf  *tls.Config
	gate  *Gate

	ready chan net.Conn
	done  chan struct{} // closed by Close

	mu        sync.Mutex
	acceptErr error                 // why the accept loop ended
	ended     chan struct{}         // closed when the accept loop ends
	shaking   map[net.Conn]struct{} // connections in their handshake
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// NewTLSListener serves TLS with conf on inner, admitting connections
// through g. It starts the accept loop; Close stops it and every handshake.
func NewTLSListener(inner net.Listener, conf *tls.Config, g *Gate) *Listener {
	l := &Listener{inner: inner, conf: conf, gate: g, ready: make(chan net.Conn),
		done: make(chan struct{}), ended: make(chan struct{}), shaking: map[net.Conn]struct{}{}}
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

// Gate is the listener's gate (for its Stats).
func (l *Listener) Gate() *Gate { return l.gate }

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	defer close(l.ended)
	var backoff time.Duration
	for {
		c, err := l.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// EMFILE and friends: wait for descriptors to free up.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(backoff):
					continue
				case <-l.done:
				}
			}
			l.mu.Lock()
			l.acceptErr = err
			l.mu.Unlock()
			return
		}
		backoff = 0
		release, ok := l.gate.Admit(c.RemoteAddr())
		if !ok {
			c.Close()
			continue
		}
		l.mu.Lock()
		select {
		case <-l.done:
			l.mu.Unlock()
			release()
			c.Close()
			return
		default:
		}
		l.shaking[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go l.handshake(c, release)
	}
}

func isTemporary(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

// handshake runs c's handshake and hands the connection to Accept. The
// gate's slot is held until then, so waiting connections are bounded too.
func (l *Listener) handshake(c net.Conn, release func()) {
	defer l.wg.Done()
	defer release()
	defer func() {
		l.mu.Lock()
		delete(l.shaking, c)
		l.mu.Unlock()
	}()
	timeout := l.gate.cfg.HandshakeTimeout
	_ = c.SetDeadline(time.Now().Add(timeout))
	tc := tls.Server(c, l.conf)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		l.gate.Failed()
		c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	select {
	case l.ready <- tc:
	case <-l.done:
		c.Close()
	}
}

// Accept returns the next connection whose handshake completed.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-l.ended:
		select {
		case c := <-l.ready: // handshakes still finishing
			return c, nil
		default:
		}
		l.mu.Lock()
		err := l.acceptErr
		l.mu.Unlock()
		return nil, err
	}
}

// Close stops accepting, closes the connections still in their handshake
// and waits for the listener's goroutines.
func (l *Listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		l.mu.Lock()
		close(l.done)
		for c := range l.shaking {
			c.Close()
		}
		l.mu.Unlock()
		err = l.inner.Close()
		l.wg.Wait()
	})
	return err
}

// Addr is the inner listener's address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }
