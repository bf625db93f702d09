//go:build unix

package client

import (
	"bufio"
	"context"
	"errors"
	"hash/maphash"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// mutedAddr returns the address of a fake node that completes rueidis's
// connection handshake (HELLO, CLIENT) and then never answers: a node that
// hangs after the client connected, or a connection gone silent.
func mutedAddr(t *testing.T) string { return fakeNode(t, serveMuted) }

// fakeNode listens on loopback and runs serve on each connection it
// accepts until the test ends, then closes the listener and the
// connections and waits for every serve to return.
func fakeNode(tb testing.TB, serve func(net.Conn)) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serve(c)
			}()
		}
	}()
	tb.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// serveMuted answers the handshake's commands and swallows the rest.
func serveMuted(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		switch strings.ToUpper(args[0]) {
		case "HELLO":
			_, err = io.WriteString(c, "%1\r\n+proto\r\n:3\r\n")
		case "CLIENT":
			_, err = io.WriteString(c, "+OK\r\n")
		}
		if err != nil {
			return
		}
	}
}

// readCommand reads one RESP array of bulk strings, as clients send.
func readCommand(r *bufio.Reader) ([]string, error) {
	head := func(prefix byte) (int, error) {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, err
		}
		if len(line) < 3 || line[0] != prefix {
			return 0, errors.New("not a command")
		}
		return strconv.Atoi(strings.TrimRight(line[1:], "\r\n"))
	}
	n, err := head('*')
	if err != nil {
		return nil, err
	}
	args := make([]string, n)
	for i := range args {
		size, err := head('$')
		if err != nil {
			return nil, err
		}
		b := make([]byte, size+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		args[i] = string(b[:size])
	}
	if n == 0 {
		return nil, errors.New("empty command")
	}
	return args, nil
}

// routedClient is a Client whose only group is served by addrs (the first
// leads it), without a cluster or a refresh loop.
func routedClient(t *testing.T, requestTimeout time.Duration, addrs ...string) *Client {
	seeds := []string{"127.0.0.1:1"} // unused: the topology is given
	cfg, err := Config{Seeds: seeds, RequestTimeout: requestTimeout, DialTimeout: time.Second}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{cfg: cfg, log: cfg.Logger, refreshc: make(chan struct{}, 1), home: maphash.MakeSeed()}
	c.conns = newConns(&c.cfg)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	ring, err := wire.NewRing(1, wire.DefaultVNodes)
	if err != nil {
		t.Fatal(err)
	}
	tp := &topology{ring: ring, nodes: addrs, groups: []groupRoute{{replicas: addrs}}}
	if len(addrs) > 0 {
		tp.groups[0].leader = addrs[0]
		tp.leaders, tp.led = addrs[:1], map[string][]int{addrs[0]: {0}}
	}
	c.topo.Store(tp)
	t.Cleanup(func() { c.Close() })
	return c
}

func ping(c *Client, ctx context.Context) error {
	return c.call(ctx, &request{op: "ping", kind: read, args: []string{"PING"},
		parse: func(*rueidis.RedisMessage) error { return nil }})
}

// The call's deadline is RequestTimeout when ctx has none, the caller's
// otherwise, and each attempt ends by attemptTimeout so that the next goes
// elsewhere: these are the deadlines call keeps without a context of its
// own.
func TestCallDeadlines(t *testing.T) {
	t.Parallel()
	// A call must not end before its deadline. Upper bounds are only
	// ever a later deadline the call must not have waited for (or, where
	// there is none, a hang): how soon after its deadline a call returns
	// depends on the machine's load.
	const hang = 20 * time.Second
	within := func(t *testing.T, d, lo, hi time.Duration) {
		t.Helper()
		if d < lo || d >= hi {
			t.Errorf("took %v, want at least %v and less than %v", d, lo, hi)
		}
	}

	t.Run("RequestTimeout without a ctx deadline, no node", func(t *testing.T) {
		t.Parallel()
		c := routedClient(t, 300*time.Millisecond)
		start := time.Now()
		err := ping(c, context.Background())
		within(t, time.Since(start), 300*time.Millisecond, hang)
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want ErrUnavailable and DeadlineExceeded", err)
		}
	})

	t.Run("the caller's earlier deadline", func(t *testing.T) {
		t.Parallel()
		c := routedClient(t, 5*time.Second, mutedAddr(t))
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := ping(c, ctx)
		within(t, time.Since(start), 300*time.Millisecond, 5*time.Second) // not RequestTimeout's
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want ErrUnavailable and DeadlineExceeded", err)
		}
	})

	t.Run("the caller's cancel", func(t *testing.T) {
		t.Parallel()
		c := routedClient(t, 5*time.Second, mutedAddr(t))
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		start := time.Now()
		err := ping(c, ctx)
		// rueidis sends a lone command on its unpipelined path, which
		// heeds only the context's deadline: the attempt may run to its
		// own (2.5s), but no further attempt starts.
		within(t, time.Since(start), 300*time.Millisecond, 5*time.Second) // not RequestTimeout's
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want ErrUnavailable and Canceled", err)
		}
	})

	t.Run("attempts end by attemptTimeout", func(t *testing.T) {
		t.Parallel()
		// RequestTimeout 2s: each attempt gets 1s, so the first node's
		// attempt ends after 1s and the second's at the call's deadline.
		muted1, muted2 := mutedAddr(t), mutedAddr(t)
		c := routedClient(t, 2*time.Second, muted1, muted2)
		start := time.Now()
		err := ping(c, context.Background())
		within(t, time.Since(start), 2*time.Second, hang)
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want ErrUnavailable and DeadlineExceeded", err)
		}
		if !strings.Contains(err.Error(), muted2) {
			t.Errorf("err = %v, want the last attempt on %s (the first on %s ended by its own timeout)", err, muted2, muted1)
		}
	})
}

// Attempts share a deadline context only when that cannot make them end
// later than they ask, nor more than deadlineGrain sooner, nor outlive a
// cancellation of their own caller's context.
func TestAttemptCtxShared(t *testing.T) {
	t.Parallel()
	c := routedClient(t, 2*time.Second)
	at, grain := c.attemptTimeout(), c.deadlineGrain()
	if grain <= 0 || grain > at/100 {
		t.Fatalf("grain %v for attemptTimeout %v", grain, at)
	}
	t0 := time.Now()
	// check asserts that ctx ends within grain before want, never after it.
	check := func(t *testing.T, ctx context.Context, want time.Time) {
		t.Helper()
		got, ok := ctx.Deadline()
		if !ok || got.After(want) || !got.After(want.Add(-grain)) {
			t.Errorf("deadline %v (%v), want in (%v, %v]", got.Sub(t0), ok, want.Add(-grain).Sub(t0), want.Sub(t0))
		}
	}

	bg := context.Background()
	first, cancel := c.attemptCtx(bg, t0, t0.Add(at))
	if cancel != nil {
		t.Fatal("the first attempt's context was not shared")
	}
	check(t, first, t0.Add(at))

	t1 := t0.Add(grain / 2)
	same, cancel := c.attemptCtx(context.TODO(), t1, t1.Add(at))
	if same != first || cancel != nil {
		t.Error("an attempt half a grain later, also never cancelled, did not share the context")
	}
	check(t, same, t1.Add(at))

	// The call's deadline comes before the attempt's usual one: a
	// context of its own, ending exactly then.
	own, cancel := c.attemptCtx(bg, t1, t1.Add(at/2))
	if own == first || cancel == nil {
		t.Fatal("an attempt bound by its call's sooner deadline shared a context")
	}
	cancel()
	check(t, own, t1.Add(at/2))

	// Another caller's cancellable context: not the shared one, which
	// its cancel would not end.
	callerCtx, callerCancel := context.WithCancel(bg)
	defer callerCancel()
	other, cancel := c.attemptCtx(callerCtx, t1, t1.Add(at))
	if other == first || cancel == nil {
		t.Fatal("a cancellable caller's attempt used a shared context that does not derive from it")
	}
	cancel()

	// A grain later the shared context is too old: a new one, from this
	// caller, which attempts of the same caller then share and which its
	// cancel ends.
	t2 := t0.Add(grain)
	next, cancel := c.attemptCtx(callerCtx, t2, t2.Add(at))
	if next == first || cancel != nil {
		t.Fatal("a grain later, no new shared context")
	}
	check(t, next, t2.Add(at))
	viaValue := context.WithValue(callerCtx, struct{}{}, 1) // the same Done channel
	again, cancel := c.attemptCtx(viaValue, t2, t2.Add(at))
	if again != next || cancel != nil {
		t.Error("an attempt of a context with the same Done channel did not share")
	}
	if first.Err() != nil {
		t.Fatal("the first shared context ended early")
	}
	callerCancel()
	select {
	case <-next.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the caller's cancel did not end the shared context made from its context")
	}

	// Close ends the shared contexts of callers that are never cancelled.
	c.Close()
	select {
	case <-first.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the shared context")
	}
}
