package node

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/transport/mux"
	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/tlsconf"
)

// testPKI is a cluster CA with node certificates written to files.
type testPKI struct {
	t   testing.TB
	dir string
	ca  *tlsconf.Authority
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	ca, err := tlsconf.NewCA("", time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{t: t, dir: t.TempDir(), ca: ca}
	if err := writeFileAtomic(p.caFile(), ca.Pair().CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *testPKI) caFile() string { return filepath.Join(p.dir, "ca.crt") }

// files issues a node certificate for id into p's directory and returns
// its files.
func (p *testPKI) files(id string) tlsconf.Files { return p.filesIn(p.dir, id) }

// filesIn issues a node certificate for id into dir and returns its files.
func (p *testPKI) filesIn(dir, id string) tlsconf.Files {
	p.t.Helper()
	f := tlsconf.Files{CA: p.caFile(), Cert: filepath.Join(dir, id+".crt"), Key: filepath.Join(dir, id+".key")}
	kp, err := p.ca.IssueNode(id, []string{"127.0.0.1"}, time.Now().Add(24*time.Hour))
	if err != nil {
		p.t.Fatal(err)
	}
	if err := kp.Write(f.Cert, f.Key); err != nil {
		p.t.Fatal(err)
	}
	return f
}

// secure configures cfg for TLS with p's certificate for cfg.ID, and gossip
// with key.
func (p *testPKI) secure(cfg *Config, key string) {
	f := p.files(cfg.ID)
	cfg.TLSCA, cfg.TLSCert, cfg.TLSKey = f.CA, f.Cert, f.Key
	cfg.GossipKey = key
}

// attackerMux is an internal port that is not a member: plaintext when id
// is "", else with a certificate of p's CA for id.
func attackerMux(t *testing.T, p *testPKI, id string) *mux.Mux {
	t.Helper()
	if id == "" {
		return peerMux(t, tlsconf.Files{})
	}
	return peerMux(t, p.files(id))
}

// peerMux is an internal port on loopback, closed at the test's end, with
// the certificate in f (none: plaintext).
func peerMux(t *testing.T, f tlsconf.Files) *mux.Mux {
	t.Helper()
	cfg := mux.DefaultConfig()
	cfg.DialTimeout = 3 * time.Second
	cfg.Logger = nodeConfig("x", "").Logger
	if f != (tlsconf.Files{}) {
		st, err := tlsconf.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		cfg.TLS = st
	}
	m, err := mux.Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func startSecureCluster(t *testing.T) (*testCluster, *testPKI, string) {
	t.Helper()
	pki := newTestPKI(t)
	key, err := GenerateGossipKey()
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, 3, func(cfg *Config) { pki.secure(cfg, key) })
	return c, pki, key
}

// TestTLSClusterRefusesStrangers replays issue 10's internal-port attacks
// against a cluster with TLS: a forwarded read, a forwarded write and a
// raft AppendEntries from a made-up leader, each from a plaintext peer and
// from a peer holding a valid cluster certificate for a node that is not a
// member. Every one is refused and changes nothing.
func TestTLSClusterRefusesStrangers(t *testing.T) {
	c, pki, _ := startSecureCluster(t)
	cl := c.client(0)
	rec := asMap(t, mustOK(t, cl, "SESSION.CREATE", "SUBJECT", "alice", "FIELDS", "role", "user"))
	id := rec["id"].Str
	n0 := c.node(0)
	gid := n0.ring.Group(id)
	leaderAddr, _ := n0.groups[gid].leaderAddr()

	for _, who := range []string{"", "stranger"} {
		name := "plaintext"
		if who != "" {
			name = "certified non-member"
		}
		t.Run(name, func(t *testing.T) {
			m := attackerMux(t, pki, who)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			// Forwarded read of a session.
			_, err := m.Call(ctx, leaderAddr, rpcGet, appendReadHeader(gid, readOpts{level: "linearizable"}, id))
			if err == nil {
				t.Fatal("forwarded read served to a stranger")
			}
			// A read index (follower reads) tells nothing secret, but a
			// stranger gets no answer from the internal port at all.
			if _, err := m.Call(ctx, leaderAddr, rpcReadIndex, binary.AppendUvarint(nil, uint64(gid))); err == nil {
				t.Fatal("read index given to a stranger")
			}
			// Forwarded write: a session with role=admin.
			cmd := &fsm.Command{Type: fsm.CmdCreate, Create: &fsm.Create{ID: "forged-session-id", Subject: "mallory",
				Fields: map[string][]byte{"role": []byte("admin")}}}
			payload := fsm.AppendCommand(binary.AppendUvarint(nil, uint64(gid)), cmd)
			if _, err := m.Call(ctx, leaderAddr, rpcWrite, payload); err == nil {
				t.Fatal("forwarded write accepted from a stranger")
			}
			if v := do(t, cl, "SESSION.GET", "forged-session-id"); errCode(v) != "NOTFOUND" {
				t.Fatalf("forged session exists: %+v", v)
			}

			// Raft AppendEntries from a made-up leader one term higher.
			trans := raft.NewNetworkTransport(m.StreamLayer(uint16(gid)), 1, 5*time.Second, io.Discard)
			defer trans.Close()
			g := n0.groups[gid]
			var target raft.ServerAddress
			for _, s := range g.raft.GetConfiguration().Configuration().Servers {
				target = s.Address
			}
			term := g.raft.CurrentTerm()
			var out raft.AppendEntriesResponse
			err = trans.AppendEntries("n3", target, &raft.AppendEntriesRequest{
				RPCHeader: raft.RPCHeader{ID: []byte("evil"), Addr: []byte(m.AdvertiseAddr())},
				Term:      term + 1, Leader: []byte(m.AdvertiseAddr()),
			}, &out)
			if err == nil {
				t.Fatalf("AppendEntries from a stranger accepted: %+v", out)
			}
			// (Terms may still move: an election under load is normal.)
			for _, n := range c.nodes {
				if addr, id := n.groups[gid].leaderAddr(); addr == m.AdvertiseAddr() || id == "evil" {
					t.Fatalf("%s follows the forged leader", n.cfg.ID)
				}
			}
		})
	}
	// The members still forward to each other.
	for i := range 3 {
		if v := mustOK(t, c.client(i), "SESSION.GET", id); v.Err() != nil {
			t.Fatal(v.Err())
		}
	}
}

// fakeMember gossips made-up metadata with memberlist, as an attacker on
// the gossip network would (here one who knows the gossip key: the TLS
// proof must hold on its own).
type fakeMember struct{ meta []byte }

func (f fakeMember) NodeMeta(int) []byte                  { return f.meta }
func (fakeMember) NotifyMsg([]byte)                       {}
func (fakeMember) GetBroadcasts(int, int) [][]byte        { return nil }
func (fakeMember) LocalState(bool) []byte                 { return nil }
func (fakeMember) MergeRemoteState(buf []byte, join bool) {}

func gossipAs(t *testing.T, name, key string, md meta) (*memberlist.Memberlist, error) {
	t.Helper()
	ports, err := testcluster.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	mc := memberlist.DefaultLocalConfig()
	mc.Name = name
	mc.BindAddr = "127.0.0.1"
	mc.BindPort = ports[0]
	mc.Logger = log.New(io.Discard, "", 0)
	b, _ := json.Marshal(md)
	mc.Delegate = fakeMember{meta: b}
	if key != "" {
		k, err := DecodeGossipKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if mc.Keyring, err = memberlist.NewKeyring(nil, k); err != nil {
			t.Fatal(err)
		}
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ml.Shutdown() })
	return ml, nil
}

// TestForgedMemberCannotJoinOrMove gossips, with the gossip key, members
// that claim an existing member's id at another address and a new id, from
// a plaintext port and from one with a cluster certificate for another id.
// The leaders must neither move n2 nor add the new id to any group.
func TestForgedMemberCannotJoinOrMove(t *testing.T) {
	const forgedClient = "127.0.0.1:1"
	c, pki, key := startSecureCluster(t)
	n0 := c.node(0)
	realN2 := c.node(1).self.Raft
	G := len(n0.groups)
	for i, who := range []string{"", "stranger"} {
		m := attackerMux(t, pki, who)
		for j, claim := range []string{"n2", "n9"} {
			name := fmt.Sprintf("forged-%d-%d", i, j)
			ml, _ := gossipAs(t, name, key, meta{ID: claim, Raft: m.AdvertiseAddr(), Client: forgedClient, Groups: G})
			// Joined to every node at once (a push-pull with each), so
			// the test does not wait on gossip's spread.
			if _, err := ml.Join([]string{c.cfgs[0].GossipAddr, c.cfgs[1].GossipAddr, c.cfgs[2].GossipAddr}); err != nil {
				t.Fatalf("gossip join with the key: %v", err)
			}
			waitFor(t, 20*time.Second, "every node to see "+name, func() error {
				for _, n := range c.nodes {
					n.memberMu.Lock()
					_, ok := n.memberTable[name]
					n.memberMu.Unlock()
					if !ok {
						var names []string
						for _, mm := range n.ml.Members() {
							names = append(names, mm.Name)
						}
						return fmt.Errorf("%s does not know %s yet (memberlist: %v)", n.cfg.ID, name, names)
					}
				}
				return nil
			})
			for _, n := range c.nodes {
				n.reconcileVoters()
			}
			for _, n := range c.nodes {
				for _, g := range n.groups {
					for _, s := range g.raft.GetConfiguration().Configuration().Servers {
						if s.ID == "n9" {
							t.Fatalf("group %d on %s: forged id n9 became a voter", g.id, n.cfg.ID)
						}
						if s.ID == "n2" && string(s.Address) != realN2 {
							t.Fatalf("group %d on %s: n2 moved to %s (real %s)", g.id, n.cfg.ID, s.Address, realN2)
						}
					}
				}
				// Nor does TOPOLOGY send clients to the forged client address.
				for _, st := range n.status() {
					for _, m := range st.Members {
						if m.ClientAddr == forgedClient {
							t.Fatalf("%s's TOPOLOGY gives %s the forged client address", n.cfg.ID, m.ID)
						}
					}
					if st.LeaderClient == forgedClient {
						t.Fatalf("%s's TOPOLOGY gives group %d's leader the forged client address", n.cfg.ID, st.ID)
					}
				}
			}
		}
	}
	// The cluster still writes.
	mustOK(t, c.client(1), "SESSION.CREATE", "SUBJECT", "bob")
}

// TestGossipWithoutKeyIgnored: a node with a gossip key does not hear a
// member that gossips without it (nor with another key), and hears one
// with the key.
func TestGossipWithoutKeyIgnored(t *testing.T) {
	key, _ := GenerateGossipKey()
	other, _ := GenerateGossipKey()
	cfg := testConfig(t, "n1", t.TempDir())
	cfg.BootstrapExpect = 1
	cfg.GossipKey = key
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if _, err := readKeyringFile(filepath.Join(cfg.DataDir, keyringFileName)); err != nil {
		t.Fatalf("keyring file not written: %v", err)
	}

	for i, k := range []string{"", other} {
		name := "nokey-" + strconv.Itoa(i)
		ml, _ := gossipAs(t, name, k, meta{ID: name, Raft: "127.0.0.1:1", Groups: 1})
		if _, err := ml.Join([]string{cfg.GossipAddr}); err == nil {
			t.Fatalf("join with key %d succeeded against an encrypted node", i)
		}
		if _, ok := n.memberByID(name); ok {
			t.Fatalf("member %s gossiping without the key is known", name)
		}
	}
	ml, _ := gossipAs(t, "withkey", key, meta{ID: "withkey", Raft: "127.0.0.1:1", Groups: 1})
	if _, err := ml.Join([]string{cfg.GossipAddr}); err != nil {
		t.Fatalf("join with the key: %v", err)
	}
	waitFor(t, 10*time.Second, "the member with the key", func() error {
		if _, ok := n.memberByID("withkey"); !ok {
			return errors.New("not seen")
		}
		return nil
	})
}

func readKeyringFile(path string) ([]string, error) {
	kr, err := openGossipKeyring("", path)
	if err != nil {
		return nil, err
	}
	if kr == nil {
		return nil, errors.New("no keyring")
	}
	return kr.list(), nil
}

// TestStartChecksCertificateID: a node refuses to start with the
// certificate of another node.
func TestStartChecksCertificateID(t *testing.T) {
	pki := newTestPKI(t)
	cfg := testConfig(t, "n1", t.TempDir())
	cfg.BootstrapExpect = 1
	f := pki.files("n2")
	cfg.TLSCA, cfg.TLSCert, cfg.TLSKey = f.CA, f.Cert, f.Key
	if n, err := Start(context.Background(), cfg); err == nil {
		n.Close()
		t.Fatal("started with n2's certificate as n1")
	}
	cfg.TLSKey = ""
	if err := cfg.Validate(); err == nil {
		t.Fatal("Validate accepted TLS without a key")
	}
}

func TestConfigValidateSecurity(t *testing.T) {
	c := validConfig(t)
	c.TLSCA, c.TLSCert = "ca.crt", "n1.crt"
	c.MaxInternalConns = -1
	c.GossipKey = "not base64!"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted the configuration")
	}
	for _, want := range []string{"TLSCA, TLSCert and TLSKey must be given together", "MaxInternalConns must be >= 0", "GossipKey: gossip key is not base64"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v\nwant it to say %q", err, want)
		}
	}
	c = validConfig(t)
	c.TLSCA, c.TLSCert, c.TLSKey, c.MaxInternalConns = "ca.crt", "n1.crt", "n1.key", 10
	c.GossipKey, _ = GenerateGossipKey()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate refused a full security configuration: %v", err)
	}
}

// TestSecureJoin: a new server with a certificate of the cluster CA and the
// gossip key joins a TLS cluster: MEMBER ADD admits it to every group, and
// it serves reads.
func TestSecureJoin(t *testing.T) {
	c, pki, key := startSecureCluster(t)
	cfg := testConfig(t, "n4", t.TempDir())
	cfg.Groups = len(c.node(0).groups)
	for i := range 3 {
		cfg.Join = append(cfg.Join, c.cfgs[i].GossipAddr)
	}
	pki.secure(&cfg, key)
	n4, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n4.Close() })
	// Gossip never adds a server on its own: the operator does, once the
	// cluster has seen it (and, with TLS, it proves its id to be admitted).
	waitFor(t, 60*time.Second, "n1 sees n4 in gossip", func() error {
		if m, ok := c.node(0).memberByID("n4"); !ok || !m.Alive {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if v, err := c.client(0).Do(ctx, "MEMBER", "ADD", "n4"); err != nil || v.Err() != nil {
		t.Fatalf("MEMBER ADD n4: %v %v", v, err)
	}
	waitFor(t, 60*time.Second, "n4 in every group", func() error {
		for _, g := range n4.groups {
			in := false
			for _, s := range g.raft.GetConfiguration().Configuration().Servers {
				in = in || s.ID == "n4"
			}
			if !in {
				return fmt.Errorf("group %d: n4 not a voter yet", g.id)
			}
		}
		return nil
	})
	id := asMap(t, mustOK(t, c.client(0), "SESSION.CREATE", "SUBJECT", "carol"))["id"].Str
	cl, err := resp.Dial(context.Background(), n4.ClientAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	waitFor(t, 30*time.Second, "a read through n4", func() error {
		return do(t, cl, "SESSION.GET", id).Err()
	})
}
