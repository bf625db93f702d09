package node

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"time"
)

// INFO in Redis's layout, so Redis tooling (redis-cli, exporters, bench's
// CPU figures) reads it: Redis's own sections with the fields that make
// sense here, then sessionraft's (Keyspace, Cluster). INFO with section
// names prints those only; "default", "all" and "everything" print every
// section; an unknown name prints nothing, as in Redis.

// RedisVersion is the Redis version whose behaviour the client port
// follows; INFO reports it as redis_version for tools that check it.
const RedisVersion = "7.2.0"

// infoSection writes one section's "key:value" lines.
type infoSection struct {
	name  string // as printed after "# "
	write func(n *Node, b *strings.Builder)
}

var infoSections = []infoSection{
	{"Server", (*Node).infoServer},
	{"Clients", (*Node).infoClients},
	{"Memory", (*Node).infoMemory},
	{"Stats", (*Node).infoStats},
	{"CPU", (*Node).infoCPU},
	{"Keyspace", (*Node).infoKeyspace},
	{"Cluster", (*Node).infoCluster},
	{"Security", (*Node).infoSecurity}, // info_security.go
}

// info answers INFO [section ...].
func (h *handler) info(q request) {
	want := map[string]bool{}
	for _, a := range q.args[1:] {
		want[strings.ToLower(string(a))] = true
	}
	all := len(want) == 0 || want["default"] || want["all"] || want["everything"]
	var b strings.Builder
	for _, s := range infoSections {
		if !all && !want[strings.ToLower(s.name)] {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		fmt.Fprintf(&b, "# %s\r\n", s.name)
		s.write(h.n, &b)
	}
	q.r.WriteBulkString(b.String())
}

func kv(b *strings.Builder, key string, value any) {
	fmt.Fprintf(b, "%s:%v\r\n", key, value)
}

func (n *Node) infoServer(b *strings.Builder) {
	up := time.Since(n.started)
	kv(b, "redis_version", RedisVersion)
	kv(b, "sessionraft_version", Version)
	kv(b, "redis_mode", "standalone")
	kv(b, "os", runtime.GOOS+" "+runtime.GOARCH)
	kv(b, "arch_bits", 32<<(^uint(0)>>63))
	kv(b, "go_version", runtime.Version())
	kv(b, "process_id", os.Getpid())
	kv(b, "node_id", n.cfg.ID)
	_, port, _ := net.SplitHostPort(n.clientAddr)
	kv(b, "tcp_port", port)
	kv(b, "uptime_in_seconds", int64(up.Seconds()))
	kv(b, "uptime_in_days", int64(up.Hours()/24))
	kv(b, "client_addr", n.clientAddr)
	kv(b, "raft_addr", n.self.Raft)
	if a := n.HTTPAddr(); a != "" {
		kv(b, "http_addr", a)
	}
}

func (n *Node) infoClients(b *strings.Builder) {
	kv(b, "connected_clients", n.respSrv.NumConns())
	kv(b, "maxclients", n.cfg.RESP.MaxConns)
	kv(b, "blocked_clients", n.topo.pending())       // TOPOLOGY WAITs (topowatch.go)
	kv(b, "tracking_clients", n.trk.active.Load())   // client-side caching (tracking.go)
	kv(b, "tracking_total_keys", n.trk.nkeys.Load()) // Redis has it under stats
}

// Memory figures come from runtime/metrics, which does not stop the world
// (runtime.ReadMemStats does).
var memSamples = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/total:bytes"},
	{Name: "/gc/cycles/total:gc-cycles"},
	{Name: "/gc/heap/goal:bytes"},
}

var memPeak struct {
	sync.Mutex
	bytes uint64
}

func (n *Node) infoMemory(b *strings.Builder) {
	s := make([]metrics.Sample, len(memSamples))
	copy(s, memSamples)
	metrics.Read(s)
	val := func(i int) uint64 {
		if s[i].Value.Kind() == metrics.KindUint64 {
			return s[i].Value.Uint64()
		}
		return 0
	}
	used, fromOS := val(0), val(1)
	memPeak.Lock()
	memPeak.bytes = max(memPeak.bytes, used)
	peak := memPeak.bytes
	memPeak.Unlock()
	rss := residentBytes()
	kv(b, "used_memory", used)
	kv(b, "used_memory_human", humanBytes(used))
	kv(b, "used_memory_rss", rss)
	kv(b, "used_memory_rss_human", humanBytes(rss))
	kv(b, "used_memory_peak", peak)
	kv(b, "used_memory_peak_human", humanBytes(peak))
	kv(b, "total_system_memory", systemMemory())
	// The state's estimated size, which --max-memory bounds (memlimit.go).
	kv(b, "used_memory_dataset", n.memoryUsage())
	kv(b, "maxmemory", n.cfg.MaxMemory)
	kv(b, "go_memory_from_os", fromOS)
	kv(b, "go_heap_goal", val(3))
	kv(b, "go_gc_cycles", val(2))
	ratio := 0.0
	if used > 0 {
		ratio = float64(rss) / float64(used)
	}
	kv(b, "mem_fragmentation_ratio", fmt.Sprintf("%.2f", ratio))
	kv(b, "mem_allocator", "go")
}

func humanBytes(v uint64) string {
	const units = "BKMGTP"
	f := float64(v)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", v)
	}
	return fmt.Sprintf("%.2f%c", f, units[i])
}

// opsSampler turns the command counter into instantaneous_ops_per_sec: the
// rate over the last completed window of at least a second (Redis averages
// 100 ms samples over 1.6 s; INFO is polled, so windows close lazily).
type opsSampler struct {
	mu       sync.Mutex
	at       time.Time
	count    uint64
	lastRate float64
}

func (s *opsSampler) rate(now time.Time, count uint64) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at.IsZero() || count < s.count {
		s.at, s.count = now, count
		return 0
	}
	if d := now.Sub(s.at); d >= time.Second {
		s.lastRate = float64(count-s.count) / d.Seconds()
		s.at, s.count = now, count
	}
	return s.lastRate
}

func (n *Node) infoStats(b *strings.Builder) {
	st := n.respSrv.Stats()
	kv(b, "total_connections_received", st.ConnsAccepted)
	kv(b, "total_commands_processed", st.Commands)
	kv(b, "instantaneous_ops_per_sec", int64(n.admin.ops.rate(time.Now(), st.Commands)))
	kv(b, "total_net_input_bytes", st.BytesIn)
	kv(b, "total_net_output_bytes", st.BytesOut)
	kv(b, "rejected_connections", st.ConnsRejected)
	var rounds, fallbacks, cycleFallbacks, lingers, lingersExpired uint64
	for _, g := range n.groups {
		rounds += g.readRounds.Load()
		fallbacks += g.readFallbacks.Load()
		cycleFallbacks += g.cycleFallbacks.Load()
		lingers += g.lingers.Load()
		lingersExpired += g.lingersExpired.Load()
	}
	kv(b, "read_rounds", rounds)
	kv(b, "read_round_fallbacks", fallbacks)
	kv(b, "read_cycles", n.cycles.cycles.Load())
	kv(b, "read_cycle_requests", n.cycles.requests.Load())
	kv(b, "read_cycle_parts", n.cycles.parts.Load())
	kv(b, "read_cycle_fallbacks", cycleFallbacks)
	kv(b, "raft_idle_appends_skipped", n.idleAppendsSkipped())
	kv(b, "batch_lingers", lingers)
	kv(b, "batch_linger_expired", lingersExpired)
}

// idleAppendsSkipped sums the groups' repeated AppendEntries that raftnet
// answered without sending (transport/raftnet/idle.go).
func (n *Node) idleAppendsSkipped() int64 {
	type idleCounter interface{ IdleAppendsReused() int64 }
	var total int64
	for _, g := range n.groups {
		if c, ok := g.layer.trans.(idleCounter); ok {
			total += c.IdleAppendsReused()
		}
	}
	return total
}

func (n *Node) infoCPU(b *strings.Builder) {
	sys, user, ok := cpuTimes()
	if !ok {
		return
	}
	kv(b, "used_cpu_sys", fmt.Sprintf("%.6f", sys.Seconds()))
	kv(b, "used_cpu_user", fmt.Sprintf("%.6f", user.Seconds()))
}

func (n *Node) infoKeyspace(b *strings.Builder) {
	total := 0
	for _, g := range n.groups {
		total += g.fsm.Len()
	}
	kv(b, "sessions", total)
}

func (n *Node) infoCluster(b *strings.Builder) {
	sts := n.status()
	kv(b, "groups", len(sts))
	kv(b, "members", len(n.members()))
	for _, st := range sts {
		fmt.Fprintf(b, "group%d:role=%s,leader=%s,term=%d,commit_index=%d,applied_index=%d,last_contact_ms=%d,sessions=%d,read_rounds=%d,read_round_fallbacks=%d\r\n",
			st.ID, st.Role, st.Leader, st.Term, st.Commit, st.Applied, durMS(st.LastContact), st.Sessions, st.ReadRounds, st.ReadFallbacks)
	}
}
