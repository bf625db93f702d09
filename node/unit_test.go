package node

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/mux"
	"github.com/sessionraft/sessionraft/transport/wire"
)

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3600", time.Hour, true},
		{"1500ms", 1500 * time.Millisecond, true},
		{"30m", 30 * time.Minute, true},
		{"0", 0, false},
		{"-5", 0, false},
		{"-1s", 0, false},
		{"soon", 0, false},
		{"", 0, false},
		{"99999999999999", 0, false},
		{"100000h", 0, false},
		{"+3600", time.Hour, true},
		{"0ms", 0, false},
		{"ms", 0, false},
		{"2000ms", 2 * time.Second, true},
		{"0100", 100 * time.Second, true},
		{"999999999999999999ms", 0, false},
		{"9999999999999999999", 0, false},
	}
	for _, c := range cases {
		got, err := parseDuration([]byte(c.in))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
		if err != nil && !errors.Is(err, ErrBadArg) {
			t.Errorf("parseDuration(%q) error %v is not ErrBadArg", c.in, err)
		}
	}
}

func TestParseLevel(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"linearizable", wire.Linearizable},
		{"LEADER", wire.Leader},
		{"Stale", wire.Stale},
		{"stalest", ""},
		{"", ""},
	} {
		got, err := parseLevel([]byte(c.in))
		if got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("parseLevel(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
		if err != nil && !errors.Is(err, ErrBadArg) {
			t.Errorf("parseLevel(%q) error %v is not ErrBadArg", c.in, err)
		}
	}
}

// TestApplyErrTranslation pins which raft errors mean "certainly not
// applied" (retryable) and which mean "outcome unknown".
func TestApplyErrTranslation(t *testing.T) {
	cases := []struct {
		err  error
		want error
	}{
		{raft.ErrNotLeader, ErrNotLeader},
		{raft.ErrLeadershipTransferInProgress, ErrNotLeader},
		{raft.ErrEnqueueTimeout, ErrNotLeader},
		{raft.ErrLeadershipLost, ErrIndeterminate},
		{raft.ErrRaftShutdown, ErrIndeterminate},
		{errors.New("disk on fire"), ErrIndeterminate},
	}
	for _, c := range cases {
		if got := translateApplyErr(c.err); !errors.Is(got, c.want) {
			t.Errorf("translateApplyErr(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if translateApplyErr(nil) != nil {
		t.Error("nil must stay nil")
	}
}

func TestCallErrTranslation(t *testing.T) {
	unreachable := fmt.Errorf("dial: %w", mux.ErrUnreachable)
	lost := fmt.Errorf("read: %w", mux.ErrConnLost)
	if err := translateCallErr(unreachable, true); !errors.Is(err, ErrUnavailable) {
		t.Errorf("unreachable write: %v", err)
	}
	if err := translateCallErr(lost, true); !errors.Is(err, ErrIndeterminate) {
		t.Errorf("lost write: %v", err)
	}
	if err := translateCallErr(lost, false); !errors.Is(err, ErrUnavailable) {
		t.Errorf("lost read: %v", err)
	}
	for _, code := range []string{wire.CodeNotLeader, wire.CodeIndeterminate, wire.CodeNotFound, wire.CodeConflict, wire.CodeTooLarge, wire.CodeStale, wire.CodeExists, wire.CodeBadArg} {
		err := translateCallErr(&mux.RemoteError{Code: code, Msg: "x"}, true)
		if got := codeOf(err); got != code {
			t.Errorf("remote %s came back as %s", code, got)
		}
	}
}

// Every node and fsm sentinel has a stable wire code, and asReply carries
// it across the RPC.
func TestCodeOf(t *testing.T) {
	cases := map[error]string{
		fsm.ErrNotFound: wire.CodeNotFound, fsm.ErrExists: wire.CodeExists,
		fsm.ErrConflict: wire.CodeConflict, fsm.ErrTooLarge: wire.CodeTooLarge,
		fsm.ErrInvalid: wire.CodeBadArg, ErrBadArg: wire.CodeBadArg,
		ErrIndeterminate: wire.CodeIndeterminate, ErrNotLeader: wire.CodeNotLeader,
		ErrStale: wire.CodeStale, ErrUnavailable: wire.CodeUnavailable,
		ErrShutdown: wire.CodeUnavailable, ErrBusy: wire.CodeBusy,
		errors.New("other"): wire.CodeInternal,
	}
	for err, want := range cases {
		wrapped := fmt.Errorf("ctx: %w", err)
		if got := codeOf(wrapped); got != want {
			t.Errorf("codeOf(%v) = %s, want %s", err, got, want)
		}
		if ce, ok := asReply(wrapped).(interface{ Code() string }); !ok || ce.Code() != want {
			t.Errorf("asReply(%v) lost its code", err)
		}
	}
}

func TestPreferredLeaderSpreads(t *testing.T) {
	servers := []raft.Server{
		{ID: "n3", Suffrage: raft.Voter}, {ID: "n1", Suffrage: raft.Voter},
		{ID: "nx", Suffrage: raft.Nonvoter}, {ID: "n2", Suffrage: raft.Voter},
	}
	seen := map[raft.ServerID]int{}
	for g := 0; g < 6; g++ {
		s, ok := preferredLeader(g, servers)
		if !ok || s.Suffrage != raft.Voter {
			t.Fatalf("group %d: %v %v", g, s, ok)
		}
		seen[s.ID]++
	}
	if len(seen) != 3 || seen["n1"] != 2 || seen["n2"] != 2 || seen["n3"] != 2 {
		t.Fatalf("uneven preference: %v", seen)
	}
	if _, ok := preferredLeader(0, nil); ok {
		t.Fatal("no voters must give no preference")
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	good.ID, good.DataDir, good.BootstrapExpect = "n1", t.TempDir(), 3
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	bad := []func(*Config){
		func(c *Config) { c.ID = "" },
		func(c *Config) { c.DataDir = "" },
		func(c *Config) { c.ClientAddr = "nope" },
		func(c *Config) { c.BootstrapExpect, c.Groups = 0, 0 },
		func(c *Config) { c.Groups = 5000 },
		func(c *Config) { c.MaxStaleness = 0 },
		func(c *Config) { c.MaxBatchBytes = 10 },
	}
	for i, mutate := range bad {
		c := good
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("bad config %d accepted", i)
		}
	}
}

func TestNewIDRoutesToGroup(t *testing.T) {
	r, _ := wire.NewRing(5, wire.DefaultVNodes)
	n := &Node{ring: r, groups: make([]*group, 5)}
	for gid := 0; gid < 5; gid++ {
		for i := 0; i < 50; i++ {
			id, err := n.newID(gid)
			if err != nil {
				t.Fatal(err)
			}
			if len(id) != 22 || r.Group(id) != gid {
				t.Fatalf("id %q for group %d routes to %d", id, gid, r.Group(id))
			}
		}
	}
}

func TestParseWriteOpts(t *testing.T) {
	args := func(s ...string) [][]byte {
		out := make([][]byte, len(s))
		for i, x := range s {
			out[i] = []byte(x)
		}
		return out
	}
	o, next, err := parseWriteOpts(args("SET", "id", "IFVERSION", "7", "REQID", "r1", "TTL", "1m", "a", "1"), 2, true)
	if err != nil || o.ifVersion != 7 || o.reqID != "r1" || o.ttl != int64(time.Minute) || next != 8 {
		t.Fatalf("got %+v next=%d err=%v", o, next, err)
	}
	// FIELDS ends the options: a field may be named TTL.
	o, next, err = parseWriteOpts(args("SET", "id", "FIELDS", "TTL", "x"), 2, true)
	if err != nil || o.ttl != 0 || next != 3 {
		t.Fatalf("FIELDS: got %+v next=%d err=%v", o, next, err)
	}
	if _, _, err := parseWriteOpts(args("SET", "id", "IFVERSION", "0"), 2, true); !errors.Is(err, ErrBadArg) {
		t.Fatalf("IFVERSION 0: %v", err)
	}
	if _, next, _ := parseWriteOpts(args("ROTATE", "id", "TTL", "1m"), 2, false); next != 2 {
		t.Fatalf("TTL must not be an option of ROTATE")
	}
}
