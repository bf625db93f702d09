package mux

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// asyncResult is one CallAsync outcome.
type asyncResult struct {
	payload []byte
	err     error
}

// callAsync starts a CallAsync whose outcome arrives on the returned
// channel; it fails the test if done runs twice.
func callAsync(t *testing.T, m *Mux, addr string, method uint8, p []byte) (<-chan asyncResult, func()) {
	t.Helper()
	ch := make(chan asyncResult, 2)
	var once sync.Once
	cancel := m.CallAsync(addr, method, p, func(b []byte, err error) {
		ran := false
		once.Do(func() { ran = true })
		if !ran {
			t.Errorf("done called twice (payload %q, err %v)", b, err)
		}
		ch <- asyncResult{b, err}
	})
	return ch, cancel
}

func waitAsync(t *testing.T, ch <-chan asyncResult) asyncResult {
	t.Helper()
	return recvWithin(t, ch, "CallAsync's done was not called")
}

// recvWithin receives from ch, failing the test with why if nothing comes
// within 10 seconds.
func recvWithin[T any](t *testing.T, ch <-chan T, why string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal(why)
		var zero T
		return zero
	}
}

// CallAsync answers as Call does: over a fresh connection (dialled by its
// fallback goroutine) and over a pooled one, and with the handler's error.
func TestCallAsync(t *testing.T) {
	client, server := newRPCPair(t, func(_ context.Context, method uint8, p []byte) ([]byte, error) {
		if method == 9 {
			return nil, codedErr{"NOPE", "refused"}
		}
		return append([]byte{method}, p...), nil
	})
	addr := server.AdvertiseAddr()
	for i := range 3 { // first dials, the rest use the pool
		ch, _ := callAsync(t, client, addr, 1, []byte{byte(i)})
		r := waitAsync(t, ch)
		if r.err != nil || !bytes.Equal(r.payload, []byte{1, byte(i)}) {
			t.Fatalf("call %d: %q %v", i, r.payload, r.err)
		}
	}
	// Every pooled connection gets dialled by the calls that found it
	// down, so later calls all go out without a goroutine.
	for i := range 4 * testConfig().RPCConnsPerPeer {
		ch, _ := callAsync(t, client, addr, 1, []byte{byte(i)})
		if r := waitAsync(t, ch); r.err != nil {
			t.Fatal(r.err)
		}
	}
	if n := countConns(client, outboundDir); n != testConfig().RPCConnsPerPeer {
		t.Fatalf("%d pooled connections after the calls, want %d", n, testConfig().RPCConnsPerPeer)
	}
	ch, cancel := callAsync(t, client, addr, 9, nil)
	r := waitAsync(t, ch)
	if re, ok := errors.AsType[*RemoteError](r.err); !ok || re.Code != "NOPE" {
		t.Fatalf("handler error: %v", r.err)
	}
	cancel() // after done: nothing happens
}

// Cancel while the handler runs: done reports the outcome unknown, at
// once, and a late answer is dropped; the connection stays usable.
func TestCallAsyncCancel(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	client, server := newRPCPair(t, func(ctx context.Context, method uint8, p []byte) ([]byte, error) {
		if method == 1 {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return p, nil
	})
	addr := server.AdvertiseAddr()
	if _, err := client.Call(ctxT(t, 5*time.Second), addr, 0, nil); err != nil {
		t.Fatal(err) // a pooled connection, so CallAsync takes its own path
	}
	ch, cancel := callAsync(t, client, addr, 1, nil)
	<-started
	cancel()
	r := waitAsync(t, ch)
	mustBeIndeterminate(t, r.err)
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled wrapped", r.err)
	}
	close(release) // the late answer must not call done again
	got, err := client.Call(ctxT(t, 5*time.Second), addr, 0, []byte("x"))
	if err != nil || string(got) != "x" {
		t.Fatalf("call after cancel: %q %v", got, err)
	}
}

// CallAsync never waits for the connection: with the peer's reader stuck
// (a paused peer) and the socket and the writer's queue full, every call
// still returns at once, and a call parked for room can be cancelled, as
// not delivered.
func TestCallAsyncDoesNotBlock(t *testing.T) {
	cfg := testConfig()
	cfg.RPCConnsPerPeer = 1
	client := newMux(t, cfg)
	server := newMux(t, testConfig())
	stuck, release := make(chan struct{}), make(chan struct{})
	server.HandleInline(7)
	server.HandleRPC(func(ctx context.Context, method uint8, p []byte) ([]byte, error) {
		if method == 7 {
			close(stuck)
			<-release // the connection's reader stops here
		}
		return nil, nil
	})
	t.Cleanup(func() { close(release) })
	addr := server.AdvertiseAddr()
	if _, err := client.Call(ctxT(t, 5*time.Second), addr, 0, nil); err != nil {
		t.Fatal(err) // a pooled connection, so CallAsync takes its own path
	}
	client.CallAsync(addr, 7, nil, func([]byte, error) {})
	<-stuck
	// 64 KiB a call: the socket buffers fill after a few MiB, the writer's
	// queue (256 frames) after that.
	payload := make([]byte, 64<<10)
	var last func()
	lastDone := make(chan error, 1)
	for i := range 600 {
		returned := make(chan func())
		go func() {
			returned <- client.CallAsync(addr, 1, payload, func(_ []byte, err error) {
				if i == 599 {
					lastDone <- err
				}
			})
		}()
		select {
		case last = <-returned:
		case <-time.After(5 * time.Second):
			t.Fatalf("CallAsync number %d blocked its caller", i)
		}
	}
	last()
	select {
	case err := <-lastDone:
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("a cancelled call that never left got %v, want ErrUnreachable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the cancelled call got no answer")
	}
}

// A peer that dies with the call in flight: outcome unknown. Nobody there:
// not delivered.
func TestCallAsyncPeerDies(t *testing.T) {
	started := make(chan struct{})
	client, server := newRPCPair(t, func(ctx context.Context, _ uint8, _ []byte) ([]byte, error) {
		if started != nil {
			close(started)
			started = nil
		}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	addr := server.AdvertiseAddr()
	wait := started
	ch, _ := callAsync(t, client, addr, 0, nil)
	<-wait
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
	mustBeIndeterminate(t, waitAsync(t, ch).err)
	ch, _ = callAsync(t, client, freeAddr(t), 0, nil)
	mustBeUndelivered(t, waitAsync(t, ch).err)
}

// An inline method runs on the connection's reader: it answers even when
// every handler goroutine slot is taken by a blocked handler.
func TestHandleInline(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConcurrentHandlers = 1
	client, server := newMux(t, testConfig()), newMux(t, cfg)
	started, release := make(chan struct{}), make(chan struct{})
	server.HandleInline(7)
	server.HandleRPC(func(ctx context.Context, method uint8, p []byte) ([]byte, error) {
		if method == 1 {
			close(started)
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return append([]byte{method}, p...), nil
	})
	addr := server.AdvertiseAddr()
	done := make(chan error, 1)
	go func() {
		_, err := client.Call(ctxT(t, 10*time.Second), addr, 1, nil)
		done <- err
	}()
	<-started
	if _, err := client.Call(ctxT(t, 5*time.Second), addr, 2, nil); err == nil {
		t.Fatal("a second goroutine handler ran past MaxConcurrentHandlers 1")
	}
	got, err := client.Call(ctxT(t, 5*time.Second), addr, 7, []byte("t"))
	if err != nil || string(got) != "\x07t" {
		t.Fatalf("inline call: %q %v", got, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPoll fans one small request out to two peers and waits for both,
// as a leadership round's term poll does: with a goroutine per Call, and
// with CallAsync against an inline handler.
func BenchmarkPoll(b *testing.B) {
	for _, bc := range []struct {
		name          string
		async, inline bool
	}{{"call", false, false}, {"call-inline", false, true}, {"async", true, false}, {"async-inline", true, true}} {
		async := bc.async
		b.Run(bc.name, func(b *testing.B) {
			client := newMux(b, testConfig())
			var addrs []string
			for range 2 {
				s := newMux(b, testConfig())
				s.HandleRPC(echo)
				if bc.inline {
					s.HandleInline(1)
				}
				addrs = append(addrs, s.AdvertiseAddr())
				for range testConfig().RPCConnsPerPeer { // every pooled connection up
					if _, err := client.Call(context.Background(), s.AdvertiseAddr(), 1, nil); err != nil {
						b.Fatal(err)
					}
				}
			}
			payload := []byte("group 1 n2")
			answers := make(chan error, len(addrs))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for _, a := range addrs {
					if async {
						client.CallAsync(a, 1, payload, func(_ []byte, err error) { answers <- err })
						continue
					}
					go func() {
						_, err := client.Call(context.Background(), a, 1, payload)
						answers <- err
					}()
				}
				for range addrs {
					if err := <-answers; err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
