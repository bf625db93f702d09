package main

import (
	"testing"

	"github.com/sessionraft/sessionraft/transport/resp"
)

func bulk(s string) resp.Value       { return resp.Value{Str: s} }
func num(n int64) resp.Value         { return resp.Value{Int: n} }
func arr(e ...resp.Value) resp.Value { return resp.Value{Elems: e} }

// kv builds a map or flat key/value array from alternating key, value.
func kv(pairs ...any) resp.Value {
	var v resp.Value
	for i := 0; i < len(pairs); i += 2 {
		v.Elems = append(v.Elems, bulk(pairs[i].(string)), pairs[i+1].(resp.Value))
	}
	return v
}

func TestParseTopology(t *testing.T) {
	member := func(id string, alive resp.Value) resp.Value {
		return kv("id", bulk(id), "raft_addr", bulk("r:"+id), "client_addr", bulk("c:"+id), "suffrage", bulk("voter"), "alive", alive)
	}
	// Numbers as integers and as strings, booleans as RESP3 bools, 1/0 and
	// strings: whatever RESP version the server answered with.
	v := kv(
		"node", bulk("n1"),
		"groups", arr(
			kv("group", num(1), "leader", bulk("n2"), "term", num(4), "commit_index", num(10),
				"applied_index", num(9), "last_contact_ms", num(12), "sessions", num(3), "role", bulk("follower"),
				"members", arr(member("n1", resp.Value{Bool: true}), member("n2", num(0)), member("n3", bulk("true")))),
			kv("group", bulk("0"), "leader", bulk(""), "term", bulk("2"), "commit_index", bulk("5"),
				"applied_index", bulk("5"), "last_contact_ms", bulk("-1"), "sessions", bulk("0"), "role", bulk("candidate"),
				"unknown_future_key", bulk("ignored")),
		),
	)
	top, err := parseTopology(v)
	if err != nil {
		t.Fatal(err)
	}
	if top.Node != "n1" || len(top.Groups) != 2 {
		t.Fatalf("got %+v", top)
	}
	g := top.Groups[0]
	if g.Group != 1 || g.Leader != "n2" || g.Term != 4 || g.CommitIndex != 10 || g.AppliedIndex != 9 ||
		g.LastContactMS != 12 || g.Sessions != 3 || g.Role != "follower" || len(g.Members) != 3 {
		t.Errorf("group 1: %+v", g)
	}
	if m := g.Members; !m[0].Alive || m[1].Alive || !m[2].Alive || m[0].ClientAddr != "c:n1" || m[2].Suffrage != "voter" {
		t.Errorf("members: %+v", m)
	}
	g = top.Groups[1]
	if g.Group != 0 || g.Leader != "" || g.Term != 2 || g.LastContactMS != -1 || g.Role != "candidate" {
		t.Errorf("group 0: %+v", g)
	}

	for name, bad := range map[string]resp.Value{
		"odd elements": arr(bulk("node")),
		"no node":      kv("groups", arr()),
		"bad group":    kv("node", bulk("n1"), "groups", arr(arr(bulk("x")))),
	} {
		if _, err := parseTopology(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseInfo(t *testing.T) {
	m := parseInfo("# Server\r\nsessionraft_version:0.1.0\r\nuptime_in_seconds:75\r\n\r\n# Raft\r\nnode_id:n2\r\naddr:1.2.3.4:5\r\n")
	if infoVersion(m) != "0.1.0" || infoUptime(m) != "1m15s" || m["node_id"] != "n2" || m["addr"] != "1.2.3.4:5" {
		t.Errorf("got %v", m)
	}
}

func TestClusterReady(t *testing.T) {
	up := func(id string, leaders ...string) nodeStatus {
		st := nodeStatus{Addr: "a:" + id, Up: true, Node: id}
		for i, l := range leaders {
			st.Groups = append(st.Groups, groupInfo{Group: i, Leader: l})
		}
		return st
	}
	if ok, why := clusterReady([]nodeStatus{up("n1", "n1", "n2"), up("n2", "n1", "n2")}); !ok {
		t.Errorf("not ready: %s", why)
	}
	for name, sts := range map[string][]nodeStatus{
		"down":      {up("n1", "n1"), {Addr: "a:n2", Error: "refused"}},
		"no groups": {up("n1")},
		"no leader": {up("n1", "n1", "")},
		"error":     {{Addr: "a", Up: true, Error: "UNAVAILABLE starting"}},
	} {
		if ok, why := clusterReady(sts); ok || why == "" {
			t.Errorf("%s: ready=%v why=%q", name, ok, why)
		}
	}
}
