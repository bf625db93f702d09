package mux

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// echo answers method byte followed by the payload.
func echo(_ context.Context, method uint8, p []byte) ([]byte, error) {
	return append([]byte{method}, p...), nil
}

func newRPCPair(t *testing.T, h RPCHandler) (client, server *Mux) {
	t.Helper()
	client, server = newMux(t, testConfig()), newMux(t, testConfig())
	server.HandleRPC(h)
	return client, server
}

// mustBeIndeterminate and mustBeUndelivered check the two halves of Call's
// contract; each class must exclude the other.
func mustBeIndeterminate(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrConnLost) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrConnLost only", err)
	}
}

func mustBeUndelivered(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrConnLost) {
		t.Fatalf("err = %v, want ErrUnreachable only", err)
	}
}

func TestRPCConcurrentCalls(t *testing.T) {
	client, server := newRPCPair(t, echo)
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			p := binary.BigEndian.AppendUint64(nil, uint64(i))
			got, err := client.Call(ctxT(t, 10*time.Second), server.AdvertiseAddr(), uint8(i), p)
			if err != nil {
				errs <- err
				return
			}
			if want := append([]byte{uint8(i)}, p...); !bytes.Equal(got, want) {
				errs <- fmt.Errorf("call %d got %x want %x", i, got, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Requests were multiplexed over the configured pool, not one conn each.
	if n := countConns(server, inboundDir); n > testConfig().RPCConnsPerPeer {
		t.Fatalf("server holds %d inbound conns, want <= %d", n, testConfig().RPCConnsPerPeer)
	}
}

func countConns(m *Mux, d direction) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for c := range m.conns {
		if c.dir == d {
			n++
		}
	}
	return n
}

type codedErr struct{ code, msg string }

func (e codedErr) Error() string { return e.msg }
func (e codedErr) Code() string  { return e.code }

func TestRPCRemoteErrors(t *testing.T) {
	client, server := newRPCPair(t, func(_ context.Context, method uint8, _ []byte) ([]byte, error) {
		switch method {
		case 1:
			return nil, fmt.Errorf("wrapped: %w", codedErr{"NOTLEADER", "leader is n2"})
		case 2:
			return nil, errors.New("plain failure")
		case 3:
			return nil, &RemoteError{Code: "CONFLICT", Msg: "forwarded"}
		default:
			panic("handler bug")
		}
	})
	cases := []struct {
		method uint8
		code   string
		msg    string
	}{
		{1, "NOTLEADER", "wrapped: leader is n2"},
		{2, CodeErr, "plain failure"},
		{3, "CONFLICT", "forwarded"},
		{4, CodePanic, "handler bug"},
	}
	for _, c := range cases {
		_, err := client.Call(ctxT(t, 5*time.Second), server.AdvertiseAddr(), c.method, nil)
		re, ok := errors.AsType[*RemoteError](err)
		if !ok || re.Code != c.code || re.Msg != c.msg {
			t.Fatalf("method %d: err = %#v, want code %s msg %q", c.method, err, c.code, c.msg)
		}
		if errors.Is(err, ErrConnLost) || errors.Is(err, ErrUnreachable) {
			t.Fatalf("remote error also matches a transport sentinel: %v", err)
		}
	}
}

func TestRPCNoHandlerAndBusy(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConcurrentHandlers = 1
	client, server := newMux(t, testConfig()), newMux(t, cfg)
	_, err := client.Call(ctxT(t, 5*time.Second), server.AdvertiseAddr(), 0, nil)
	if re, ok := errors.AsType[*RemoteError](err); !ok || re.Code != CodeNoHandler {
		t.Fatalf("no handler: err = %v", err)
	}

	started, release := make(chan struct{}), make(chan struct{})
	server.HandleRPC(func(ctx context.Context, method uint8, _ []byte) ([]byte, error) {
		if method == 1 {
			close(started)
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return []byte("ok"), nil
	})
	done := make(chan error, 1)
	go func() {
		_, err := client.Call(ctxT(t, 10*time.Second), server.AdvertiseAddr(), 1, nil)
		done <- err
	}()
	<-started
	_, err = client.Call(ctxT(t, 5*time.Second), server.AdvertiseAddr(), 2, nil)
	if re, ok := errors.AsType[*RemoteError](err); !ok || re.Code != CodeBusy {
		t.Fatalf("over capacity: err = %v, want BUSY", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("blocked call: %v", err)
	}
	if _, err := client.Call(ctxT(t, 5*time.Second), server.AdvertiseAddr(), 2, nil); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestRPCContextCancel(t *testing.T) {
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
	t.Cleanup(func() { close(release) })

	// Cancelled before the call: nothing sent.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := client.Call(ctx, server.AdvertiseAddr(), 0, nil)
	mustBeUndelivered(t, err)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled wrapped", err)
	}

	// Cancelled while the handler runs: outcome unknown, returned at once.
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := client.Call(ctx, server.AdvertiseAddr(), 1, nil)
		done <- err
	}()
	<-started
	cancel()
	select {
	case err := <-done:
		mustBeIndeterminate(t, err)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled wrapped", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled call did not return")
	}

	// Deadline while waiting, same class.
	_, err = client.Call(ctxT(t, 200*time.Millisecond), server.AdvertiseAddr(), 1, nil)
	<-started
	mustBeIndeterminate(t, err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded wrapped", err)
	}

	// The connections survived for everyone else.
	before := countConns(client, outboundDir)
	for i := range 10 {
		got, err := client.Call(ctxT(t, 5*time.Second), server.AdvertiseAddr(), 0, []byte{byte(i)})
		if err != nil || !bytes.Equal(got, []byte{byte(i)}) {
			t.Fatalf("call after cancellations: %q %v", got, err)
		}
	}
	if after := countConns(client, outboundDir); after != before {
		t.Fatalf("cancellations cost connections: %d before, %d after", before, after)
	}
}

func TestRPCPeerDown(t *testing.T) {
	client := newMux(t, testConfig())
	_, err := client.Call(ctxT(t, 5*time.Second), freeAddr(t), 0, nil)
	mustBeUndelivered(t, err)
}

func TestRPCPeerKilledMidCall(t *testing.T) {
	started := make(chan struct{})
	client, server := newRPCPair(t, func(ctx context.Context, _ uint8, _ []byte) ([]byte, error) {
		close(started)
		<-ctx.Done() // Close cancels it; Close waits for handlers
		return nil, ctx.Err()
	})
	addr := server.AdvertiseAddr()
	done := make(chan error, 1)
	go func() {
		_, err := client.Call(ctxT(t, 10*time.Second), addr, 0, []byte("write"))
		done <- err
	}()
	<-started
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		mustBeIndeterminate(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("call did not return after the peer died")
	}
	// The broken conn left the pool; the redial finds nobody.
	_, err := client.Call(ctxT(t, 5*time.Second), addr, 0, nil)
	mustBeUndelivered(t, err)
}

func TestRPCPeerRestarts(t *testing.T) {
	client, server := newRPCPair(t, echo)
	addr := server.AdvertiseAddr()
	if _, err := client.Call(ctxT(t, 5*time.Second), addr, 0, nil); err != nil {
		t.Fatal(err)
	}
	server.Close()
	waitFor(t, 5*time.Second, "client to notice the dead conn", func() bool { return countConns(client, outboundDir) == 0 })
	cfg := testConfig()
	server2, err := Listen(addr, cfg)
	if err != nil {
		t.Skipf("could not rebind %s: %v", addr, err)
	}
	t.Cleanup(func() { server2.Close() })
	server2.HandleRPC(echo)
	if _, err := client.Call(ctxT(t, 5*time.Second), addr, 0, nil); err != nil {
		t.Fatalf("call after peer restart: %v", err)
	}
}

func TestRPCFrameLimits(t *testing.T) {
	small := testConfig()
	small.MaxRPCBytes = 1024
	var ran atomic.Int64
	h := func(_ context.Context, method uint8, p []byte) ([]byte, error) {
		ran.Add(1)
		if method == 1 {
			return make([]byte, 4096), nil
		}
		return p, nil
	}
	big := make([]byte, 2000)

	t.Run("request over own limit is not sent", func(t *testing.T) {
		client, server := newMux(t, small), newMux(t, testConfig())
		server.HandleRPC(h)
		before := ran.Load()
		_, err := client.Call(ctxT(t, 5*time.Second), server.AdvertiseAddr(), 0, big)
		if !errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrConnLost) {
			t.Fatalf("err = %v, want ErrFrameTooLarge", err)
		}
		if ran.Load() != before {
			t.Fatal("handler ran")
		}
		if _, err := client.Call(ctxT(t, 5*time.Second), server.AdvertiseAddr(), 0, big[:1024-frameHeaderLen]); err != nil {
			t.Fatalf("frame exactly at the limit: %v", err)
		}
	})
	t.Run("request over peer limit gets TOOLARGE", func(t *testing.T) {
		client, server := newMux(t, testConfig()), newMux(t, small)
		server.HandleRPC(h)
		before := ran.Load()
		_, err := client.Call(ctxT(t, 5*time.Second), server.AdvertiseAddr(), 0, big)
		if re, ok := errors.AsType[*RemoteError](err); !ok || re.Code != CodeTooLarge {
			t.Fatalf("err = %v, want TOOLARGE", err)
		}
		if ran.Load() != before {
			t.Fatal("handler ran")
		}
		if _, err := client.Call(ctxT(t, 5*time.Second), server.AdvertiseAddr(), 0, []byte("x")); err != nil {
			t.Fatalf("conn unusable after oversized request: %v", err)
		}
	})
	t.Run("response over server limit is indeterminate", func(t *testing.T) {
		client, server := newMux(t, testConfig()), newMux(t, small)
		server.HandleRPC(h)
		_, err := client.Call(ctxT(t, 5*time.Second), server.AdvertiseAddr(), 1, nil)
		mustBeIndeterminate(t, err)
		if !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("err = %v, want ErrFrameTooLarge wrapped", err)
		}
	})
	t.Run("response over client limit is indeterminate", func(t *testing.T) {
		client, server := newMux(t, small), newMux(t, testConfig())
		server.HandleRPC(h)
		_, err := client.Call(ctxT(t, 5*time.Second), server.AdvertiseAddr(), 1, nil)
		mustBeIndeterminate(t, err)
		if !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("err = %v, want ErrFrameTooLarge wrapped", err)
		}
		if _, err := client.Call(ctxT(t, 5*time.Second), server.AdvertiseAddr(), 0, []byte("x")); err != nil {
			t.Fatalf("conn unusable after oversized response: %v", err)
		}
	})
}

func TestGarbageConnections(t *testing.T) {
	cfg := testConfig()
	cfg.HeaderTimeout = 200 * time.Millisecond
	client, server := newMux(t, testConfig()), newMux(t, cfg)
	server.HandleRPC(echo)
	server.StreamLayer(0)
	// A healthy pooled connection that must survive the garbage.
	if _, err := client.Call(ctxT(t, 5*time.Second), server.AdvertiseAddr(), 0, nil); err != nil {
		t.Fatal(err)
	}

	good, _ := appendHeader(nil, header{kind: kindRaft, group: 0, addr: "x:1"})
	badVersion := bytes.Clone(good)
	badVersion[4] = 9
	badKind := bytes.Clone(good)
	badKind[5] = 'Q'
	unknownGroup, _ := appendHeader(nil, header{kind: kindRaft, group: 99, addr: "x:1"})
	for name, b := range map[string][]byte{
		"http":          []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"bad version":   badVersion,
		"bad kind":      badKind,
		"unknown group": unknownGroup,
		"silent":        nil, // closed by HeaderTimeout
		"partial":       good[:5],
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", server.AdvertiseAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(b); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c, 5*time.Second)
			got, err := client.Call(ctxT(t, 5*time.Second), server.AdvertiseAddr(), 7, []byte("fine"))
			if err != nil || string(got) != "\x07fine" {
				t.Fatalf("healthy call after garbage: %q %v", got, err)
			}
		})
	}
}

func TestCallAfterClose(t *testing.T) {
	client, server := newRPCPair(t, echo)
	client.Close()
	if _, err := client.Call(ctxT(t, time.Second), server.AdvertiseAddr(), 0, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	if err := client.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func BenchmarkRPC(b *testing.B) {
	benchRPC(b, testConfig(), testConfig())
}

// BenchmarkRPCTLS is BenchmarkRPC over mutual TLS 1.3, for the cost of TLS
// on established connections.
func BenchmarkRPCTLS(b *testing.B) {
	pki := newPKI(b)
	benchRPC(b, tlsConfig(pki, "n1"), tlsConfig(pki, "n2"))
}

func benchRPC(b *testing.B, ccfg, scfg Config) {
	client, server := newMux(b, ccfg), newMux(b, scfg)
	server.HandleRPC(echo)
	addr := server.AdvertiseAddr()
	payload := bytes.Repeat([]byte{'p'}, 64)
	ctx := context.Background()
	if _, err := client.Call(ctx, addr, 0, payload); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := client.Call(ctx, addr, 1, payload); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
