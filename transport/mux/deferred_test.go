package mux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// deferredServer is a mux whose method 7 is deferred: each request's reply
// function is handed to the test on reqs, with its payload.
type deferredReq struct {
	payload []byte
	caller  Caller
	ctx     context.Context
	reply   func([]byte, error)
}

func newDeferredPair(t *testing.T) (client, server *Mux, reqs <-chan deferredReq) {
	t.Helper()
	client, server = newRPCPair(t, func(_ context.Context, method uint8, p []byte) ([]byte, error) {
		return append([]byte("general:"), p...), nil
	})
	ch := make(chan deferredReq, 4096)
	server.HandleDeferred(7, func(ctx context.Context, p []byte, reply func([]byte, error)) {
		c, _ := CallerFrom(ctx)
		ch <- deferredReq{payload: p, caller: c, ctx: ctx, reply: reply}
	})
	return client, server, ch
}

func nextReq(t *testing.T, reqs <-chan deferredReq) deferredReq {
	t.Helper()
	return recvWithin(t, reqs, "the deferred handler did not run")
}

// A deferred method's replies come later, from other goroutines, in any
// order, each to its own call; other methods still reach the RPCHandler.
func TestHandleDeferred(t *testing.T) {
	client, server, reqs := newDeferredPair(t)
	addr := server.AdvertiseAddr()
	const calls = 20
	type result struct {
		i   int
		out []byte
		err error
	}
	results := make(chan result, calls)
	for i := range calls {
		go func() {
			out, err := client.Call(ctxT(t, 10*time.Second), addr, 7, []byte{byte(i)})
			results <- result{i, out, err}
		}()
	}
	pending := make([]deferredReq, 0, calls)
	for range calls {
		r := nextReq(t, reqs)
		if r.caller.Addr != client.AdvertiseAddr() {
			t.Errorf("caller %+v, want address %s", r.caller, client.AdvertiseAddr())
		}
		pending = append(pending, r)
	}
	// Answer in reverse order of arrival, from other goroutines; odd
	// requests with an error whose code must survive.
	var wg sync.WaitGroup
	for i := len(pending) - 1; i >= 0; i-- {
		r := pending[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r.payload[0]%2 == 1 {
				r.reply(nil, codedErr{"ODD", fmt.Sprintf("odd %d", r.payload[0])})
				return
			}
			r.reply(append([]byte("ok:"), r.payload...), nil)
		}()
	}
	wg.Wait()
	for range calls {
		r := recvWithin(t, results, "a call got no answer")
		if r.i%2 == 1 {
			re, ok := errors.AsType[*RemoteError](r.err)
			if !ok || re.Code != "ODD" || re.Msg != fmt.Sprintf("odd %d", r.i) {
				t.Errorf("call %d: %q %v, want its ODD error", r.i, r.out, r.err)
			}
			continue
		}
		if r.err != nil || !bytes.Equal(r.out, []byte{'o', 'k', ':', byte(r.i)}) {
			t.Errorf("call %d: %q %v", r.i, r.out, r.err)
		}
	}
	out, err := client.Call(ctxT(t, 10*time.Second), addr, 8, []byte("x"))
	if err != nil || string(out) != "general:x" {
		t.Fatalf("a method that is not deferred: %q %v", out, err)
	}
	// Removed: the RPCHandler takes it again.
	server.HandleDeferred(7, nil)
	out, err = client.Call(ctxT(t, 10*time.Second), addr, 7, []byte("y"))
	if err != nil || string(out) != "general:y" {
		t.Fatalf("after HandleDeferred(7, nil): %q %v", out, err)
	}
}

// Replies faster than the connection's queue drains (one goroutine
// answering more than the queue holds at once) all arrive: reply does not
// drop what it cannot queue at once.
func TestHandleDeferredManyAtOnce(t *testing.T) {
	client, server, reqs := newDeferredPair(t)
	addr := server.AdvertiseAddr()
	cfg := testConfig()
	calls := 3 * 256 * cfg.RPCConnsPerPeer
	errs := make(chan error, calls)
	for i := range calls {
		go func() {
			out, err := client.Call(ctxT(t, 20*time.Second), addr, 7, []byte(fmt.Sprint(i)))
			if err == nil && string(out) != fmt.Sprint(i) {
				err = fmt.Errorf("call %d answered %q", i, out)
			}
			errs <- err
		}()
	}
	pending := make([]deferredReq, 0, calls)
	for range calls {
		pending = append(pending, nextReq(t, reqs))
	}
	for _, r := range pending {
		r.reply(r.payload, nil)
	}
	for range calls {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("a call got no answer")
		}
	}
}

// A reply after the caller's connection broke is dropped (the caller was
// told ErrConnLost), and so is one after the server closed; the handler's
// ctx ends with the connection.
func TestHandleDeferredAfterConnLost(t *testing.T) {
	client, server, reqs := newDeferredPair(t)
	addr := server.AdvertiseAddr()
	errc := make(chan error, 1)
	go func() {
		_, err := client.Call(ctxT(t, 10*time.Second), addr, 7, []byte("a"))
		errc <- err
	}()
	r := nextReq(t, reqs)
	server.closeConns(func(*trackedConn) bool { return true })
	mustBeIndeterminate(t, recvWithin(t, errc, "the call did not fail with its connection"))
	recvWithin(t, r.ctx.Done(), "the handler's ctx did not end with its connection")
	r.reply([]byte("late"), nil) // dropped, must not block or panic

	// A new connection serves on; then one pending at Close.
	go func() {
		_, err := client.Call(ctxT(t, 10*time.Second), addr, 7, []byte("b"))
		errc <- err
	}()
	r = nextReq(t, reqs)
	server.Close()
	mustBeIndeterminate(t, recvWithin(t, errc, "the call did not fail when the server closed"))
	r.reply(nil, errors.New("after close"))
}

// A handler that panics answers PANIC unless it replied first; a second
// reply is dropped.
func TestHandleDeferredPanicAndTwice(t *testing.T) {
	client, server := newRPCPair(t, func(context.Context, uint8, []byte) ([]byte, error) { return nil, nil })
	server.HandleDeferred(7, func(_ context.Context, p []byte, reply func([]byte, error)) {
		switch string(p) {
		case "panic":
			panic("boom")
		case "reply-then-panic":
			reply([]byte("first"), nil)
			panic("boom")
		case "twice":
			reply([]byte("first"), nil)
			reply([]byte("second"), nil)
		}
	})
	addr := server.AdvertiseAddr()
	_, err := client.Call(ctxT(t, 10*time.Second), addr, 7, []byte("panic"))
	if re, ok := errors.AsType[*RemoteError](err); !ok || re.Code != CodePanic {
		t.Fatalf("panicking handler: %v, want a %s RemoteError", err, CodePanic)
	}
	for _, p := range []string{"reply-then-panic", "twice"} {
		out, err := client.Call(ctxT(t, 10*time.Second), addr, 7, []byte(p))
		if err != nil || string(out) != "first" {
			t.Fatalf("%s: %q %v, want the first reply", p, out, err)
		}
	}
	// The connection still serves after all that.
	server.HandleDeferred(7, func(_ context.Context, p []byte, reply func([]byte, error)) { reply(p, nil) })
	out, err := client.Call(ctxT(t, 10*time.Second), addr, 7, []byte("z"))
	if err != nil || string(out) != "z" {
		t.Fatalf("after the panics: %q %v", out, err)
	}
}
