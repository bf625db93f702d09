// Package metrics holds a node's Prometheus metrics and its HTTP admin
// endpoints: /metrics (Prometheus text format), /health, /ready and a live
// status page at /.
//
// The node records request figures through the Metrics methods on its hot
// paths (counters and histograms of client_golang: atomic adds, no locks,
// no allocation) and exposes everything else through the Source interface,
// read only when a scrape or the status page asks: group roles, indexes and
// lag, sessions, connections. No label carries a session id, key or
// subject: labels are command names from the node's command table, error
// codes, consistency levels, group numbers and node ids, all bounded.
//
// hashicorp/raft and memberlist report through go-metrics; InstallRaftSink
// sends those to the same registry, so raft's own timings (commit time,
// AppendEntries, FSM apply) appear beside ours under sessionraft_raft_* and
// sessionraft_memberlist_*.
package metrics
