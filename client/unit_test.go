package client

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// These tests need no cluster.

func TestSentinelForEveryCode(t *testing.T) {
	want := map[string]error{
		wire.CodeNotFound:      ErrNotFound,
		wire.CodeConflict:      ErrConflict,
		wire.CodeTooLarge:      ErrTooLarge,
		wire.CodeNotLeader:     ErrUnavailable,
		wire.CodeUnavailable:   ErrUnavailable,
		wire.CodeBusy:          ErrUnavailable,
		wire.CodeIndeterminate: ErrIndeterminate,
		wire.CodeBadArg:        ErrInvalid,
		wire.CodeUnknownCmd:    ErrInvalid,
		wire.CodeNoProto:       ErrInvalid,
		wire.CodeProtocol:      ErrInvalid,
		wire.CodeStale:         ErrStale,
		wire.CodeExists:        ErrExists,
		wire.CodeOOM:           ErrOutOfMemory,
		wire.CodeDiskFull:      ErrDiskFull,
		wire.CodeInternal:      nil,
		wire.CodeNoAuth:        ErrAuth,
		wire.CodeWrongPass:     ErrAuth,
		wire.CodeNoPerm:        ErrNoPerm,
	}
	for _, code := range wire.Codes {
		w, ok := want[code]
		if !ok {
			t.Errorf("wire code %s has no expectation here: map it in sentinelFor", code)
			continue
		}
		err := error(&ServerError{Code: code, Message: "m", Addr: "a"})
		if w != nil && !errors.Is(err, w) {
			t.Errorf("%s does not match %v", code, w)
		}
		if w == nil && sentinelFor(code) != nil {
			t.Errorf("%s maps to %v", code, sentinelFor(code))
		}
		if s := err.Error(); s != code+" m" {
			t.Errorf("message %q", s)
		}
	}
}

// TestNodeStateRefusal: DISKFULL and OOM refusals depend on the node that
// gave them, so after an attempt of unknown outcome they make the call
// indeterminate (a jepsen disk run lost a rotated-away session when such a
// refusal was reported as "not applied"); refusals about the request do not.
func TestNodeStateRefusal(t *testing.T) {
	for reply, want := range map[string]bool{
		"DISKFULL free disk space low, writes refused": true,
		"OOM memory quota reached":                     true,
		"NOTFOUND no such session":                     false,
		"CONFLICT version mismatch":                    false,
		"TOOLARGE value too large":                     false,
		"ERR unknown command":                          false,
	} {
		if got := nodeStateRefusal(reply); got != want {
			t.Errorf("nodeStateRefusal(%q) = %v, want %v", reply, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	c := &Client{}
	for _, tc := range []struct {
		err  error
		want outcome
	}{
		{&net.OpError{Op: "dial", Err: errors.New("refused")}, notApplied},
		{&net.OpError{Op: "read", Err: errors.New("reset")}, unknown},
		{io.EOF, unknown},
		{fmt.Errorf("x: %w", io.ErrUnexpectedEOF), unknown},
		{&parseError{errors.New("bad")}, final},
		{ErrClosed, closed},
	} {
		if got := c.classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestOptions(t *testing.T) {
	o, err := collect("Create", createOpts, []Option{WithSubject("s"), WithTTL(time.Minute), WithIdleTimeout(time.Second),
		WithField("a", []byte("1")), WithFields(map[string][]byte{"b": []byte("2")}), WithID("x"), nil})
	if err != nil {
		t.Fatal(err)
	}
	if o.subject != "s" || o.ttl != time.Minute || o.idle != time.Second || len(o.fields) != 2 || o.id != "x" {
		t.Errorf("%+v", o)
	}
	for _, tc := range []struct {
		call    string
		allowed optBit
		opts    []Option
	}{
		{"Get", getOpts, []Option{WithSubject("s")}},
		{"Create", createOpts, []Option{IfVersion(3)}},
		{"Set", setOpts, []Option{WithConsistency(Stale)}},
		{"Create", createOpts, []Option{WithTTL(0)}},
		{"Create", createOpts, []Option{WithIdleTimeout(-1)}},
		{"Create", createOpts, []Option{WithID("")}},
		{"Get", getOpts, []Option{WithConsistency("eventual")}},
		{"Get", getOpts, []Option{WithMaxStaleness(0)}},
		{"Set", setOpts, []Option{IfVersion(0)}},
		{"Revoke", revokeOpts, []Option{WithoutTouch()}},
	} {
		if _, err := collect(tc.call, tc.allowed, tc.opts); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s with %d options: %v, want ErrInvalid", tc.call, len(tc.opts), err)
		}
	}
}

func TestWriteArgs(t *testing.T) {
	opts := func(o ...Option) *options {
		t.Helper()
		got, err := collect("Set", setOpts, o)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{"set: FIELDS before pairs, names sorted",
			setArgs("id", map[string][]byte{"TTL": b("1"), "b": b("2"), "FIELDS": b("3")}, opts(), "r"),
			[]string{"SESSION.SET", "id", "REQID", "r", "FIELDS", "FIELDS", "3", "TTL", "1", "b", "2"}},
		{"set with options",
			setArgs("id", map[string][]byte{"reqid": b("x")}, opts(IfVersion(7), WithTTL(time.Minute)), "r"),
			[]string{"SESSION.SET", "id", "IFVERSION", "7", "REQID", "r", "TTL", "60000ms", "FIELDS", "reqid", "x"}},
		{"set: TTL only, no FIELDS",
			setArgs("id", nil, opts(WithTTL(time.Second)), "r"),
			[]string{"SESSION.SET", "id", "REQID", "r", "TTL", "1000ms"}},
		{"unset: names in the order given",
			unsetArgs("id", []string{"z", "TTL", "a", "IfVersion"}, opts(), "r"),
			[]string{"SESSION.UNSET", "id", "REQID", "r", "FIELDS", "z", "TTL", "a", "IfVersion"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestWithFieldOrder(t *testing.T) {
	o, err := collect("Create", createOpts, []Option{
		WithField("z", b("1")), WithFields(map[string][]byte{"b": b("2"), "a": b("3")}), WithField("z", b("4")), WithField("TTL", b("5")),
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"z", "a", "b", "TTL"}; !slices.Equal(o.fieldNames, want) || string(o.fields["z"]) != "4" {
		t.Errorf("names %q (want %q), z = %q (want the last value)", o.fieldNames, want, o.fields["z"])
	}
}

func TestGroupArgs(t *testing.T) {
	got := groupArgs("SESSION.REVOKE", 2, []string{"group"}, []string{"EXCEPT", "Group"})
	if want := []string{"SESSION.REVOKE", "group", "GROUP", "2", "EXCEPT", "Group"}; !slices.Equal(got, want) {
		t.Errorf("%q", got)
	}
}

func TestSessionAccessors(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	s := &Session{Fields: map[string][]byte{
		"s": []byte("text"), "i": []byte("-42"), "bad": []byte("4x"), "b": []byte("true"), "t": []byte(now.Format(time.RFC3339Nano)),
	}}
	if v, ok := s.String("s"); !ok || v != "text" {
		t.Error("String")
	}
	if _, ok := s.String("none"); ok {
		t.Error("String of a missing field")
	}
	if v, ok := s.Bytes("s"); !ok || string(v) != "text" {
		t.Error("Bytes")
	}
	if v, ok := s.Int("i"); !ok || v != -42 {
		t.Error("Int")
	}
	if _, ok := s.Int("bad"); ok {
		t.Error("Int of a non-number")
	}
	if _, ok := s.Int("none"); ok {
		t.Error("Int of a missing field")
	}
	if v, ok := s.Bool("b"); !ok || !v {
		t.Error("Bool")
	}
	if _, ok := s.Bool("s"); ok {
		t.Error("Bool of text")
	}
	if v, ok := s.Time("t"); !ok || !v.Equal(now) {
		t.Errorf("Time: %v", v)
	}
	if _, ok := s.Time("s"); ok {
		t.Error("Time of text")
	}
}

func TestWireDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "3600000ms", 1500 * time.Millisecond: "1500ms", 1500 * time.Microsecond: "1500000ns",
	} {
		if got := wireDuration(d); got != want {
			t.Errorf("wireDuration(%v) = %q, want %q", d, got, want)
		}
		if p, err := time.ParseDuration(wireDuration(d)); err != nil || p != d {
			t.Errorf("%q does not parse back to %v", wireDuration(d), d)
		}
	}
}

func TestNewSessionID(t *testing.T) {
	ring, _ := wire.NewRing(5, wire.DefaultVNodes)
	for g := range 5 {
		for range 20 {
			if id := newSessionID(ring, g); ring.Group(id) != g || len(id) != 22 {
				t.Fatalf("id %q for group %d is in group %d", id, g, ring.Group(id))
			}
		}
	}
}

// TestBuildTopology checks the merge of several nodes' views.
func TestBuildTopology(t *testing.T) {
	members := []memberReport{
		{id: "n1", client: "a1", suffrage: "voter", alive: true},
		{id: "n2", client: "a2", suffrage: "voter", alive: true},
		{id: "n3", client: "a3", suffrage: "voter", alive: true},
	}
	view := func(node, client string, leaders ...string) *report {
		r := &report{addr: client, node: node, client: client}
		for g, l := range leaders {
			gr := groupReport{id: g, role: "follower", leaderClient: l, term: 1, members: members}
			if l == client {
				gr.role = "leader"
			}
			r.groups = append(r.groups, gr)
		}
		return r
	}
	// n1 is cut off and still thinks it leads group 0 in term 1; n2 and n3
	// know that n2 took over in term 2.
	r1 := view("n1", "a1", "a1", "a2")
	r2 := view("n2", "a2", "a2", "a2")
	r2.groups[0].term = 2
	r3 := view("n3", "a3", "a2", "a2")
	r3.groups[0].term = 2
	tp, err := buildTopology([]*report{r1, r2, r3}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tp.groups[0].leader != "a2" || tp.groups[1].leader != "a2" || !slices.Equal(tp.leaders, []string{"a2"}) {
		t.Errorf("leaders: %s", tp.summary())
	}
	if !slices.Equal(tp.nodes, []string{"a1", "a2", "a3"}) || !slices.Equal(tp.groups[0].replicas, []string{"a1", "a2", "a3"}) {
		t.Errorf("nodes %v, replicas %v", tp.nodes, tp.groups[0].replicas)
	}
	if !slices.Equal(tp.led["a2"], []int{0, 1}) {
		t.Errorf("led: %v", tp.led)
	}

	// a2 did not answer: not a leader nor a replica until it does, but
	// still a known node.
	tp2, err := buildTopology([]*report{r1, r3}, map[string]bool{"a2": true}, tp)
	if err != nil {
		t.Fatal(err)
	}
	if tp2.groups[0].leader != "" || slices.Contains(tp2.groups[0].replicas, "a2") || !slices.Contains(tp2.nodes, "a2") {
		t.Errorf("after a2 failed: %s", tp2.summary())
	}
	if tp2.ring != tp.ring {
		t.Error("ring rebuilt for the same group count")
	}
	if tp2.sameRoutes(tp) || !tp.sameRoutes(tp) {
		t.Error("sameRoutes")
	}

	// Views of different group counts are refused.
	if _, err := buildTopology([]*report{r1, view("n4", "a4", "a1")}, nil, nil); err == nil {
		t.Error("mixed group counts accepted")
	}
}

func TestReadOptions(t *testing.T) {
	v, err := ReadOptions(WithID("x"), WithSubject("s"), WithTTL(time.Hour), WithIdleTimeout(time.Minute),
		WithField("b", b("1")), WithField("a", b("2")), WithConsistency(Stale), WithMaxStaleness(time.Second),
		WithoutTouch(), IfVersion(3), WithExcept("e"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != "x" || v.Subject != "s" || v.TTL != time.Hour || v.IdleTimeout != time.Minute ||
		!slices.Equal(v.FieldNames, []string{"b", "a"}) || string(v.Fields["a"]) != "2" ||
		v.Consistency != Stale || v.MaxStaleness != time.Second || !v.NoTouch || v.IfVersion != 3 || v.Except != "e" {
		t.Errorf("got %+v", v)
	}
	if v, err := ReadOptions(); err != nil || v.Fields != nil || v.ID != "" {
		t.Errorf("no options: %+v, %v", v, err)
	}
	if _, err := ReadOptions(WithTTL(-time.Second)); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid option: %v, want ErrInvalid", err)
	}
}
