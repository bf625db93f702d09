package main

// This file is the only place that knows the shape of the TOPOLOGY and INFO
// replies. Keep it that way so a change on the server side is a change here.
//
// TOPOLOGY returns a map (RESP3) or a flat key/value array (RESP2):
//
//	node   -> this node's id
//	client_addr, vnodes, hash -> its client address and the ring's parameters
//	groups -> array of maps:
//	    group, leader ("" if none), leader_client_addr, term, commit_index, applied_index,
//	    last_contact_ms (-1 on the leader or when unknown), sessions,
//	    role (leader/follower/candidate/shutdown),
//	    members -> array of maps: id, raft_addr, client_addr, suffrage, alive
//
// INFO returns a bulk string of "key:value" lines in "# Section" blocks, as
// Redis does.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sessionraft/sessionraft/transport/resp"
)

type topology struct {
	Node       string      `json:"node"`
	ClientAddr string      `json:"client_addr,omitempty"`
	VNodes     int         `json:"vnodes,omitempty"` // the ring's virtual nodes per group
	Hash       string      `json:"hash,omitempty"`   // the ring's key hash
	Groups     []groupInfo `json:"groups"`
}

type groupInfo struct {
	Group         int          `json:"group"`
	Role          string       `json:"role"`
	Leader        string       `json:"leader"`
	LeaderClient  string       `json:"leader_client_addr,omitempty"`
	Term          int64        `json:"term"`
	CommitIndex   int64        `json:"commit_index"`
	AppliedIndex  int64        `json:"applied_index"`
	Sessions      int64        `json:"sessions"`
	LastContactMS int64        `json:"last_contact_ms"`
	Members       []memberInfo `json:"members,omitempty"`
}

type memberInfo struct {
	ID         string `json:"id"`
	RaftAddr   string `json:"raft_addr"`
	ClientAddr string `json:"client_addr"`
	Suffrage   string `json:"suffrage"`
	Alive      bool   `json:"alive"`
}

// asMap turns a RESP3 map or a RESP2 flat key/value array into a Go map.
// Both arrive as Elems holding key, value, key, value, ...
func asMap(v resp.Value) (map[string]resp.Value, error) {
	if e := v.Err(); e != nil {
		return nil, fmt.Errorf("server error: %s", e.Error())
	}
	if len(v.Elems)%2 != 0 {
		return nil, fmt.Errorf("expected a map or key/value array, got %d elements", len(v.Elems))
	}
	m := make(map[string]resp.Value, len(v.Elems)/2)
	for i := 0; i < len(v.Elems); i += 2 {
		k := v.Elems[i]
		if len(k.Elems) > 0 {
			return nil, fmt.Errorf("map key %d is not a string", i/2)
		}
		m[k.Str] = v.Elems[i+1]
	}
	return m, nil
}

// asString returns a string, bulk string or verbatim string reply.
func asString(v resp.Value) string { return v.Str }

// asInt accepts an integer reply or a string holding one (some servers send
// numbers as bulk strings in RESP2). Anything else is 0.
func asInt(v resp.Value) int64 {
	if s := strings.TrimSpace(v.Str); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return int64(f)
		}
		return 0
	}
	if v.Int == 0 && v.Float != 0 {
		return int64(v.Float)
	}
	return v.Int
}

// asBool accepts a RESP3 boolean, an integer 1/0 or a string true/false.
func asBool(v resp.Value) bool {
	if v.Bool || v.Int != 0 {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(v.Str)) {
	case "1", "t", "true", "yes":
		return true
	}
	return false
}

func parseTopology(v resp.Value) (topology, error) {
	var t topology
	m, err := asMap(v)
	if err != nil {
		return t, fmt.Errorf("TOPOLOGY: %w", err)
	}
	t.Node = asString(m["node"])
	if t.Node == "" {
		return t, fmt.Errorf("TOPOLOGY: reply has no node id")
	}
	t.ClientAddr = asString(m["client_addr"])
	t.VNodes = int(asInt(m["vnodes"]))
	t.Hash = asString(m["hash"])
	for i, gv := range m["groups"].Elems {
		gm, err := asMap(gv)
		if err != nil {
			return t, fmt.Errorf("TOPOLOGY: groups[%d]: %w", i, err)
		}
		g := groupInfo{
			Group:         int(asInt(gm["group"])),
			Role:          asString(gm["role"]),
			Leader:        asString(gm["leader"]),
			LeaderClient:  asString(gm["leader_client_addr"]),
			Term:          asInt(gm["term"]),
			CommitIndex:   asInt(gm["commit_index"]),
			AppliedIndex:  asInt(gm["applied_index"]),
			Sessions:      asInt(gm["sessions"]),
			LastContactMS: -1,
		}
		if lc, ok := gm["last_contact_ms"]; ok {
			g.LastContactMS = asInt(lc)
		}
		for j, mv := range gm["members"].Elems {
			mm, err := asMap(mv)
			if err != nil {
				return t, fmt.Errorf("TOPOLOGY: groups[%d].members[%d]: %w", i, j, err)
			}
			g.Members = append(g.Members, memberInfo{
				ID:         asString(mm["id"]),
				RaftAddr:   asString(mm["raft_addr"]),
				ClientAddr: asString(mm["client_addr"]),
				Suffrage:   asString(mm["suffrage"]),
				Alive:      asBool(mm["alive"]),
			})
		}
		t.Groups = append(t.Groups, g)
	}
	return t, nil
}

// parseInfo reads an INFO reply ("# Section" headers and "key:value" lines)
// into a flat map. Unknown lines are ignored.
func parseInfo(s string) map[string]string {
	m := make(map[string]string)
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// infoVersion and infoUptime pick the fields status shows from INFO.
func infoVersion(m map[string]string) string {
	for _, k := range []string{"sessionraft_version", "version", "redis_version"} {
		if v := m[k]; v != "" {
			return v
		}
	}
	return ""
}

func infoUptime(m map[string]string) string {
	if v, err := strconv.ParseInt(m["uptime_in_seconds"], 10, 64); err == nil {
		return fmtSeconds(v)
	}
	return ""
}
