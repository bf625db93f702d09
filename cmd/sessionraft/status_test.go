package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
)

// fakeNode is a tiny RESP server that answers PING, HELLO, INFO and
// TOPOLOGY like a sessionraft node, in RESP2 or (after HELLO 3) RESP3.
type fakeNode struct {
	id     string
	groups []map[string]any
	ln     net.Listener
}

func startFakeNode(t *testing.T, id string, leaders ...string) *fakeNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNode{id: id, ln: ln}
	for g, l := range leaders {
		role := "follower"
		if l == id {
			role = "leader"
		}
		f.groups = append(f.groups, map[string]any{
			"group": g, "leader": l, "term": 3, "commit_index": 40 + g, "applied_index": 40 + g,
			"last_contact_ms": 7, "sessions": 5, "role": role,
			"members": []any{map[string]any{"id": id, "raft_addr": "r", "client_addr": ln.Addr().String(), "suffrage": "voter", "alive": true}},
		})
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeNode) addr() string { return f.ln.Addr().String() }

func (f *fakeNode) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	proto := 2
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		var reply any
		switch strings.ToUpper(args[0]) {
		case "PING":
			reply = simple("PONG")
		case "HELLO":
			if len(args) > 1 && args[1] == "3" {
				proto = 3
			}
			reply = map[string]any{"server": "sessionraft", "proto": proto}
		case "INFO":
			reply = fmt.Sprintf("# Server\r\nsessionraft_version:9.9.9\r\nnode_id:%s\r\nuptime_in_seconds:61\r\n", f.id)
		case "TOPOLOGY":
			groups := make([]any, len(f.groups))
			for i, g := range f.groups {
				groups[i] = g
			}
			reply = map[string]any{"node": f.id, "groups": groups}
		default:
			reply = errReply("UNKNOWNCMD unknown command")
		}
		var b bytes.Buffer
		encode(&b, reply, proto)
		if _, err := c.Write(b.Bytes()); err != nil {
			return
		}
	}
}

type simple string
type errReply string

func encode(w io.Writer, v any, proto int) {
	switch v := v.(type) {
	case simple:
		fmt.Fprintf(w, "+%s\r\n", v)
	case errReply:
		fmt.Fprintf(w, "-%s\r\n", v)
	case string:
		fmt.Fprintf(w, "$%d\r\n%s\r\n", len(v), v)
	case int:
		fmt.Fprintf(w, ":%d\r\n", v)
	case bool:
		switch {
		case proto == 3 && v:
			fmt.Fprint(w, "#t\r\n")
		case proto == 3:
			fmt.Fprint(w, "#f\r\n")
		case v:
			fmt.Fprint(w, ":1\r\n")
		default:
			fmt.Fprint(w, ":0\r\n")
		}
	case []any:
		fmt.Fprintf(w, "*%d\r\n", len(v))
		for _, e := range v {
			encode(w, e, proto)
		}
	case map[string]any:
		if proto == 3 {
			fmt.Fprintf(w, "%%%d\r\n", len(v))
		} else {
			fmt.Fprintf(w, "*%d\r\n", 2*len(v))
		}
		for k, e := range v {
			encode(w, k, proto)
			encode(w, e, proto)
		}
	default:
		panic(fmt.Sprintf("encode %T", v))
	}
}

func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil || n < 1 {
		return nil, fmt.Errorf("bad request %q", line)
	}
	args := make([]string, n)
	for i := range args {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		l, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "$")))
		if err != nil {
			return nil, fmt.Errorf("bad bulk %q", line)
		}
		buf := make([]byte, l+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		args[i] = string(buf[:l])
	}
	return args, nil
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

func TestStatus(t *testing.T) {
	n1 := startFakeNode(t, "n1", "n1", "n2")
	n2 := startFakeNode(t, "n2", "n1", "n2")
	down := freeAddr(t)
	out, _, err := runCLI(t, "status", "--addr", n1.addr()+","+n2.addr(), "--addr", down)
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, want := range []string{"n1", "n2", "9.9.9", "1m1s", "down", down, "leader", "follower", "7ms",
		"2/3 nodes up, 2 raft groups, every group has a leader"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, _, err = runCLI(t, "status", "--addr", n1.addr()+","+down, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var sts []nodeStatus
	if err := json.Unmarshal([]byte(out), &sts); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(sts) != 2 || !sts[0].Up || sts[1].Up || sts[0].Node != "n1" || len(sts[0].Groups) != 2 ||
		sts[0].Groups[1].Leader != "n2" || sts[0].Groups[0].CommitIndex != 40 || len(sts[0].Groups[0].Members) != 1 {
		t.Errorf("json: %+v", sts)
	}
}

func TestStatusNoneUp(t *testing.T) {
	a, b := freeAddr(t), freeAddr(t)
	_, errOut, err := runCLI(t, "status", "--addr", a+","+b)
	if err == nil {
		t.Fatal("no error when no node answers")
	}
	if !strings.Contains(err.Error(), "no node answered") || !strings.Contains(errOut, a) {
		t.Errorf("err %v, stderr %q", err, errOut)
	}
}

func TestNormalizeAddrs(t *testing.T) {
	got := normalizeAddrs([]string{"7001", ":7002", "10.0.0.1:7003", "[::1]:7004"})
	want := []string{"127.0.0.1:7001", "127.0.0.1:7002", "10.0.0.1:7003", "[::1]:7004"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %v, want %v", got, want)
	}
}
