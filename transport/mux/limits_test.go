package mux

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// allocated returns the bytes allocated by the process so far.
func allocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// The attack of issue 10: 16 connections of 34 bytes each (a 21-byte RPC
// header and a 13-byte frame header claiming a 64 MiB frame) made the node
// allocate 64 MiB per connection. Each attacker half-closes after its 34
// bytes, so the server reaches the body read, fails it and closes; once
// every connection is closed, whatever it allocated has been allocated.
func TestHeaderClaimingHugeFrameAllocatesLittle(t *testing.T) {
	srv := newMux(t, testConfig())
	srv.HandleRPC(echo)
	hdr, err := appendHeader(nil, header{kind: kindRPC, addr: "1.2.3.4:56789"})
	if err != nil {
		t.Fatal(err)
	}
	var fh [frameHeaderLen]byte
	putFrameHeader(&fh, 1, 1, srv.cfg.MaxRPCBytes-frameHeaderLen) // a frame of exactly MaxRPCBytes (64 MiB)
	attack := append(hdr, fh[:]...)
	if len(attack) != 34 {
		t.Fatalf("attack is %d bytes, want 34", len(attack))
	}

	const conns = 16
	// The stated bound: 1 MiB per connection (buffers of 64 KiB each way, a
	// 32 KiB first body chunk, TCP and goroutine overhead), against 64 MiB
	// per connection before.
	const bound = conns << 20
	start := allocated()
	for range conns {
		c, err := net.DialTimeout("tcp", srv.AdvertiseAddr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(attack); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		// Ack, then EOF: the server read the frame header and gave up.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil || len(b) != 1 || b[0] != ackByte {
			t.Fatalf("got %x %v, want just the ack then EOF", b, err)
		}
	}
	if got := allocated() - start; got > bound {
		t.Fatalf("%d connections claiming 64 MiB frames allocated %d bytes, bound %d", conns, got, bound)
	}
	// The port still serves.
	if _, err := newMux(t, testConfig()).Call(ctxT(t, 10*time.Second), srv.AdvertiseAddr(), 1, nil); err != nil {
		t.Fatal(err)
	}
}

func TestReadGrowing(t *testing.T) {
	// Exact bodies of every interesting size come back intact.
	for _, n := range []int{0, 1, firstChunk - 1, firstChunk, firstChunk + 1, 5*firstChunk + 7} {
		want := bytes.Repeat([]byte{0xab}, n)
		for i := range want {
			want[i] = byte(i)
		}
		got, err := readGrowing(bytes.NewReader(want), n)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("n=%d: %d bytes, %v", n, len(got), err)
		}
	}
	// A 64 MiB claim backed by 100 KiB allocates a few hundred KiB.
	body := make([]byte, 100<<10)
	start := allocated()
	_, err := readGrowing(bytes.NewReader(body), 64<<20)
	if got := allocated() - start; got > 1<<20 {
		t.Fatalf("allocated %d bytes for 100 KiB received", got)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
	// Through frameReader as well.
	stream := binary.BigEndian.AppendUint32(nil, 64<<20)
	stream = append(stream, make([]byte, 9+10)...)
	start = allocated()
	fr := &frameReader{br: bufio.NewReader(bytes.NewReader(stream)), max: 128 << 20}
	if _, _, _, err := fr.next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("err = %v", err)
	}
	if got := allocated() - start; got > 1<<20 {
		t.Fatalf("frameReader allocated %d bytes for a 64 MiB claim", got)
	}
}

func TestInboundConnCap(t *testing.T) {
	cfg := testConfig()
	cfg.MaxInboundConns = 2
	cfg.HeaderTimeout = time.Minute // the silent conns must hold their slots
	srv := newMux(t, cfg)
	srv.HandleRPC(echo)
	var silent []net.Conn
	for range 2 {
		c, err := net.DialTimeout("tcp", srv.AdvertiseAddr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	waitFor(t, 10*time.Second, "two inbound conns", func() bool { return srv.inbound.Load() == 2 })

	over, err := net.DialTimeout("tcp", srv.AdvertiseAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	expectClosed(t, over, 10*time.Second)
	if n := srv.inbound.Load(); n != 2 {
		t.Fatalf("inbound = %d after refusing one over the cap", n)
	}

	silent[0].Close()
	waitFor(t, 10*time.Second, "a slot to free up", func() bool { return srv.inbound.Load() == 1 })
	ccfg := testConfig()
	ccfg.RPCConnsPerPeer = 1
	if _, err := newMux(t, ccfg).Call(ctxT(t, 10*time.Second), srv.AdvertiseAddr(), 1, nil); err != nil {
		t.Fatalf("call with a free slot: %v", err)
	}
}
