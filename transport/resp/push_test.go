package resp

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// pushHandler: SUB enables pushes on the connection and pushes "early"
// from inside Dispatch (which must reach the client after SUB's reply);
// ECHO x answers x. Subscribed connections are sent on conns.
type pushHandler struct{ conns chan *Conn }

func (h *pushHandler) Dispatch(c *Conn, args [][]byte, r *Reply) func(context.Context) {
	switch strings.ToUpper(string(args[0])) {
	case "SUB":
		c.EnablePush()
		c.Push(func(w *Writer) { w.WritePushLen(1); w.WriteBulkString("early") })
		r.WriteSimple("SUBSCRIBED")
		h.conns <- c
	default:
		r.WriteBulk(args[len(args)-1])
	}
	return nil
}

func pushConn(t *testing.T, cfg ServerConfig) (*pushHandler, net.Conn, *bufio.Reader, *Conn) {
	t.Helper()
	h := &pushHandler{conns: make(chan *Conn, 1)}
	_, addr := startServer(t, cfg, h)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	br := bufio.NewReader(nc)
	if _, err := nc.Write([]byte("*1\r\n$3\r\nSUB\r\n")); err != nil {
		t.Fatal(err)
	}
	var c *Conn
	select {
	case c = <-h.conns:
	case <-time.After(10 * time.Second):
		t.Fatal("SUB not dispatched")
	}
	return h, nc, br, c
}

func readPushValue(t *testing.T, nc net.Conn, br *bufio.Reader) string {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	v, err := ReadValue(br, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return v.String()
}

// A push made while its request is dispatched follows that request's
// reply; pushes from another goroutine interleave with replies whole and
// in their own order, and take no inflight token.
func TestPushOrder(t *testing.T) {
	cfg := DefaultServerConfig()
	cfg.MaxInflight = 2
	_, nc, br, c := pushConn(t, cfg)
	if got := readPushValue(t, nc, br); !strings.Contains(got, "SUBSCRIBED") {
		t.Fatalf("first reply %s, want SUB's", got)
	}
	if got := readPushValue(t, nc, br); !strings.Contains(got, "early") {
		t.Fatalf("second reply %s, want the push", got)
	}
	const n = 500
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			if !c.Push(func(w *Writer) { w.WritePushLen(1); w.WriteBulkString("m" + strconv.Itoa(i)) }) {
				t.Errorf("push %d refused", i)
				return
			}
		}
	}()
	var req []byte
	for i := range n {
		req = append(req, "*2\r\n$4\r\nECHO\r\n$"+strconv.Itoa(len(strconv.Itoa(i))+1)+"\r\ne"+strconv.Itoa(i)+"\r\n"...)
	}
	go func() { _, _ = nc.Write(req) }()
	nextPush, nextReply := 0, 0
	for nextPush < n || nextReply < n {
		got := readPushValue(t, nc, br)
		switch {
		case strings.Contains(got, `"m`):
			if want := `"m` + strconv.Itoa(nextPush) + `"`; !strings.Contains(got, want) {
				t.Fatalf("push %s, want %s", got, want)
			}
			nextPush++
		default:
			if want := `"e` + strconv.Itoa(nextReply) + `"`; !strings.Contains(got, want) {
				t.Fatalf("reply %s, want %s", got, want)
			}
			nextReply++
		}
	}
	wg.Wait()
}

// A connection that does not read its pushes is closed once its unwritten
// output passes MaxPushBytes, and Push says so.
func TestPushSlowReaderClosed(t *testing.T) {
	cfg := DefaultServerConfig()
	cfg.MaxPushBytes = 64 << 10
	_, _, _, c := pushConn(t, cfg)
	msg := strings.Repeat("x", 16<<10)
	deadline := time.Now().Add(60 * time.Second)
	for c.Push(func(w *Writer) { w.WritePushLen(1); w.WriteBulkString(msg) }) {
		if time.Now().After(deadline) {
			t.Fatal("pushes to a connection that never reads were still accepted")
		}
	}
	select {
	case <-c.ctx.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the connection was not closed")
	}
}
