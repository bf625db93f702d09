package resp

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// Client is a minimal synchronous RESP client: one command, one reply. It
// exists for tests, the CLI's status command and integration tests, where
// simplicity beats throughput; the production Go client uses rueidis.
// It is safe for concurrent use (calls are serialised).
type Client struct {
	mu     sync.Mutex
	conn   net.Conn
	br     *bufio.Reader
	buf    []byte
	limits Limits
	err    error // sticky: set when the connection is no longer usable
}

// Dial connects to a RESP server at addr (host:port) over TCP. It speaks
// RESP2 until the caller sends HELLO 3.
func Dial(ctx context.Context, addr string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return NewClient(conn), nil
}

// NewClient wraps an established connection (for example a *tls.Conn).
// The Client owns conn from now on.
func NewClient(conn net.Conn) *Client {
	return &Client{conn: conn, br: bufio.NewReaderSize(conn, readBufSize), limits: DefaultLimits()}
}

// Do sends one command and reads its reply. An error reply is returned as
// the Value and also as a *ServerError; the connection stays usable. Any
// other error (I/O, protocol, ctx expiry) leaves the request's fate
// unknown and closes the connection, because a late reply would otherwise
// be taken as the answer to the next command.
//
// ctx's deadline becomes the connection's deadline, and cancelling ctx
// interrupts a blocked read or write.
func (c *Client) Do(ctx context.Context, args ...string) (Value, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return Value{}, c.err
	}
	if err := ctx.Err(); err != nil {
		return Value{}, err
	}
	dl, _ := ctx.Deadline() // zero time (no deadline) when absent
	if err := c.conn.SetDeadline(dl); err != nil {
		return Value{}, c.fail(ctx, err)
	}
	stop := context.AfterFunc(ctx, func() {
		// A deadline in the past wakes up whichever I/O is blocked.
		_ = c.conn.SetDeadline(time.Unix(1, 0))
	})
	defer stop()

	c.buf = appendCommand(c.buf[:0], args)
	if _, err := c.conn.Write(c.buf); err != nil {
		return Value{}, c.fail(ctx, err)
	}
	v, err := ReadValue(c.br, c.limits)
	if err != nil {
		return Value{}, c.fail(ctx, err)
	}
	return v, v.Err()
}

// fail closes the connection after an I/O error and reports ctx's error if
// that is what caused it.
func (c *Client) fail(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = ctxErr
	} else if _, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) {
		// The socket deadline (ctx's) can fire a moment before ctx's timer.
		err = context.DeadlineExceeded
	}
	c.err = errors.Join(ErrClientClosed, err)
	_ = c.conn.Close()
	return err
}

// Close closes the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == ErrClientClosed {
		return nil
	}
	wasBroken := c.err != nil
	c.err = ErrClientClosed
	if wasBroken {
		return nil // already closed by fail
	}
	return c.conn.Close()
}

// appendCommand encodes args as a RESP array of bulk strings.
func appendCommand(b []byte, args []string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}
