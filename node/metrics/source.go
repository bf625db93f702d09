package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Source is what the node tells the metrics package at scrape time and for
// the status page. Implementations must be safe for concurrent use and
// cheap: a scrape calls Status once.
type Source interface {
	Status() Status
	// Ready reports whether this node can serve: every group has a known
	// leader and this node's replicas are within the staleness bound. The
	// reason is short and names what is wrong.
	Ready() (ok bool, reason string)
}

// Status is one node's view of itself and of the cluster.
type Status struct {
	NodeID      string    `json:"node_id"`
	Version     string    `json:"version"`
	ClientAddr  string    `json:"client_addr"`
	DataDir     string    `json:"-"`
	Started     time.Time `json:"started"`
	Connections int       `json:"connections"`
	// Client are the client port's totals since start.
	Client ClientTotals `json:"client"`
	// Security are what the ports' guards refused since start.
	Security SecurityTotals `json:"security"`
	Groups   []Group        `json:"groups"`
	Members  []Member       `json:"members"`
	// LeaderChanges are the most recent leader changes this node saw,
	// oldest first.
	LeaderChanges []LeaderChange `json:"leader_changes"`
}

// ClientTotals are cumulative client-port counters (resp.Server's Stats):
// the node keeps them with one atomic add per socket operation, so they
// are read here at scrape time rather than counted twice.
type ClientTotals struct {
	ConnsAccepted uint64 `json:"connections_accepted"`
	ConnsRejected uint64 `json:"connections_rejected"`
	Commands      uint64 `json:"commands"`
	BytesIn       uint64 `json:"bytes_in"`
	BytesOut      uint64 `json:"bytes_out"`
}

// SecurityTotals count what the internal port's raft guard refused
// (docs/SECURITY.md).
type SecurityTotals struct {
	// RaftMessagesRefused are raft messages (and raft connections without
	// a proven id) refused because their sender was not the node the
	// connection's certificate proves.
	RaftMessagesRefused uint64 `json:"raft_messages_refused"`
	// Internal and Client are the TLS handshake gates of the two ports
	// (zero for a port without TLS).
	Internal HandshakeTotals `json:"internal_handshakes"`
	Client   HandshakeTotals `json:"client_handshakes"`
}

// HandshakeTotals are one port's handshake admission counters
// (transport/admit).
type HandshakeTotals struct {
	InFlight    int64  `json:"in_flight"`
	Admitted    uint64 `json:"admitted"`
	RateLimited uint64 `json:"rate_limited"`
	Busy        uint64 `json:"busy"`
	Failed      uint64 `json:"failed"`
}

// Group is one raft group as this node sees it.
type Group struct {
	ID           int    `json:"id"`
	Role         string `json:"role"` // leader, follower, candidate, shutdown
	Leader       string `json:"leader"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	// StateAge is how old this replica's applied state is by the log clock
	// (what a stale read is checked against).
	StateAge     time.Duration `json:"state_age_ns"`
	Sessions     int           `json:"sessions"`
	Tombstones   int           `json:"tombstones"`
	DedupEntries int           `json:"dedup_entries"`
	// Followers is filled on the leader only.
	Followers []Follower `json:"followers,omitempty"`
}

// Follower is a voter's replication state, seen from its leader.
type Follower struct {
	ID          string        `json:"id"`
	MatchIndex  uint64        `json:"match_index"`
	Lag         uint64        `json:"lag_entries"`     // leader's last index - match index
	LastContact time.Duration `json:"last_contact_ns"` // negative: not heard from yet
}

// Member is a server this node knows of.
type Member struct {
	ID         string `json:"id"`
	ClientAddr string `json:"client_addr"`
	HTTPAddr   string `json:"http_addr,omitempty"`
	Alive      bool   `json:"alive"`
}

// LeaderChange is one observed change of a group's leader.
type LeaderChange struct {
	Time   time.Time `json:"time"`
	Group  int       `json:"group"`
	Leader string    `json:"leader"` // "" while there is none
	Term   uint64    `json:"term"`
}

// Roles are the values of Group.Role, in the order sessionraft_group_role
// reports them.
var Roles = []string{"leader", "follower", "candidate", "shutdown"}

// sourceCollector turns a Source's Status into gauges at scrape time.
type sourceCollector struct {
	src  Source
	disk *diskUsage

	role, term, commit, applied, age         *prometheus.Desc
	sessions, tombstones, dedup              *prometheus.Desc
	lag, lastContact                         *prometheus.Desc
	conns, ready, diskFree, diskTotal, dirSz *prometheus.Desc
	accepted, rejected, bytesIn, bytesOut    *prometheus.Desc
	raftRefused                              *prometheus.Desc
	hsInFlight, hsTotal                      *prometheus.Desc
}

func newSourceCollector(src Source) *sourceCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("sessionraft_"+name, help, labels, nil)
	}
	return &sourceCollector{
		src:         src,
		disk:        &diskUsage{},
		role:        d("group_role", "1 for this node's current role in the group, 0 for the others.", "group", "role"),
		term:        d("group_term", "Current raft term of the group on this node.", "group"),
		commit:      d("group_commit_index", "Raft commit index of the group on this node.", "group"),
		applied:     d("group_applied_index", "Index the state machine has applied on this node.", "group"),
		age:         d("group_state_age_seconds", "Age of this replica's applied state by the log clock.", "group"),
		sessions:    d("group_sessions", "Live records in the group's state machine.", "group"),
		tombstones:  d("group_tombstones", "Tombstones of removed ids kept by the group.", "group"),
		dedup:       d("group_dedup_entries", "Request ids remembered for deduplication.", "group"),
		lag:         d("replication_lag_entries", "Entries a follower is behind its leader (reported by the leader).", "group", "follower"),
		lastContact: d("replication_last_contact_seconds", "Time since the leader last heard from a follower.", "group", "follower"),
		conns:       d("client_connections", "Open client connections."),
		ready:       d("ready", "1 when /ready answers 200."),
		diskFree:    d("disk_free_bytes", "Free bytes on the file system of the data directory (available to the server's user)."),
		diskTotal:   d("disk_total_bytes", "Size of the file system of the data directory."),
		dirSz:       d("data_dir_bytes", "Bytes used under the data directory."),
		accepted:    d("client_connections_accepted_total", "Client connections accepted."),
		rejected:    d("client_connections_rejected_total", "Client connections refused beyond the connection cap."),
		bytesIn:     d("client_received_bytes_total", "Bytes read from client connections."),
		bytesOut:    d("client_sent_bytes_total", "Bytes written to client connections."),
		raftRefused: d("raft_messages_refused_total", "Raft messages refused because their sender is not the node the connection's certificate proves."),
		hsInFlight:  d("tls_handshakes_in_flight", "TLS handshakes running now, by port (internal, client).", "port"),
		hsTotal:     d("tls_handshakes_total", "New TLS connections by port and outcome: admitted to a handshake, rate_limited (source over its rate), busy (handshake slots full), failed (handshake failed or timed out).", "port", "outcome"),
	}
}

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.role, c.term, c.commit, c.applied, c.age, c.sessions,
		c.tombstones, c.dedup, c.lag, c.lastContact, c.conns, c.ready, c.diskFree, c.diskTotal, c.dirSz,
		c.accepted, c.rejected, c.bytesIn, c.bytesOut, c.raftRefused, c.hsInFlight, c.hsTotal} {
		ch <- d
	}
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, g := range st.Groups {
		gid := strconv.Itoa(g.ID)
		for _, r := range Roles {
			v := 0.0
			if r == g.Role {
				v = 1
			}
			gauge(c.role, v, gid, r)
		}
		gauge(c.term, float64(g.Term), gid)
		gauge(c.commit, float64(g.CommitIndex), gid)
		gauge(c.applied, float64(g.AppliedIndex), gid)
		gauge(c.age, g.StateAge.Seconds(), gid)
		gauge(c.sessions, float64(g.Sessions), gid)
		gauge(c.tombstones, float64(g.Tombstones), gid)
		gauge(c.dedup, float64(g.DedupEntries), gid)
		for _, f := range g.Followers {
			gauge(c.lag, float64(f.Lag), gid, f.ID)
			if f.LastContact >= 0 { // negative: never heard from since this node leads
				gauge(c.lastContact, f.LastContact.Seconds(), gid, f.ID)
			}
		}
	}
	gauge(c.conns, float64(st.Connections))
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(c.accepted, st.Client.ConnsAccepted)
	counter(c.rejected, st.Client.ConnsRejected)
	counter(c.bytesIn, st.Client.BytesIn)
	counter(c.bytesOut, st.Client.BytesOut)
	counter(c.raftRefused, st.Security.RaftMessagesRefused)
	for port, h := range map[string]HandshakeTotals{"internal": st.Security.Internal, "client": st.Security.Client} {
		gauge(c.hsInFlight, float64(h.InFlight), port)
		for outcome, v := range map[string]uint64{"admitted": h.Admitted, "rate_limited": h.RateLimited, "busy": h.Busy, "failed": h.Failed} {
			ch <- prometheus.MustNewConstMetric(c.hsTotal, prometheus.CounterValue, float64(v), port, outcome)
		}
	}
	ok, _ := c.src.Ready()
	if ok {
		gauge(c.ready, 1)
	} else {
		gauge(c.ready, 0)
	}
	if st.DataDir != "" {
		if free, total, err := fsSpace(st.DataDir); err == nil {
			gauge(c.diskFree, float64(free))
			gauge(c.diskTotal, float64(total))
		}
		gauge(c.dirSz, float64(c.disk.size(st.DataDir)))
	}
}
