package node

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sessionraft/sessionraft/internal/glob"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// pubsub is this node's pub/sub hub: which connections subscribe to which
// channels and patterns, and delivery to them. Messages reach a
// connection through resp.Conn.Push, which queues them with the
// connection's replies and closes a subscriber that stops reading (see
// resp.ServerConfig.MaxPushBytes). PUBLISH reaches the other nodes' hubs
// through the publish RPC (pubsub_rpc.go); keyspace notifications stay
// on the node that applied the change (keyspace.go).
//
// The zero value is ready to use.
type pubsub struct {
	mu       sync.RWMutex
	channels map[string]map[*subscriber]struct{}
	patterns map[string]map[*subscriber]struct{}

	// nsubs counts connections with at least one subscription, so that
	// keyspace events cost one atomic load when nobody listens.
	nsubs atomic.Int64
	// notify holds the keyspace-event flags (notify-keyspace-events).
	notify atomic.Uint32
}

// subscriber is one connection's subscriptions. Its sets change only on
// the connection's reader goroutine, under pubsub.mu for writing; they
// are read under either.
type subscriber struct {
	c        *resp.Conn
	channels map[string]struct{}
	patterns map[string]struct{}
}

func newSubscriber(c *resp.Conn) *subscriber {
	return &subscriber{c: c, channels: map[string]struct{}{}, patterns: map[string]struct{}{}}
}

// count is Redis's clientSubscriptionsCount: channels plus patterns.
func (s *subscriber) count() int { return len(s.channels) + len(s.patterns) }

// subscribe adds s to channel (pattern: to the pattern) and reports
// whether it was new; then the subscriber's total count.
func (ps *pubsub) subscribe(s *subscriber, name string, pattern bool) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	before := s.count()
	own, hub := s.channels, &ps.channels
	if pattern {
		own, hub = s.patterns, &ps.patterns
	}
	if _, ok := own[name]; !ok {
		own[name] = struct{}{}
		if *hub == nil {
			*hub = map[string]map[*subscriber]struct{}{}
		}
		set := (*hub)[name]
		if set == nil {
			set = map[*subscriber]struct{}{}
			(*hub)[name] = set
		}
		set[s] = struct{}{}
	}
	if before == 0 && s.count() > 0 {
		ps.nsubs.Add(1)
	}
	return s.count()
}

// unsubscribe removes s from channel (or pattern); it returns s's count
// after.
func (ps *pubsub) unsubscribe(s *subscriber, name string, pattern bool) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	before := s.count()
	own, hub := s.channels, ps.channels
	if pattern {
		own, hub = s.patterns, ps.patterns
	}
	if _, ok := own[name]; ok {
		delete(own, name)
		if set := hub[name]; set != nil {
			delete(set, s)
			if len(set) == 0 {
				delete(hub, name)
			}
		}
	}
	if before > 0 && s.count() == 0 {
		ps.nsubs.Add(-1)
	}
	return s.count()
}

// names returns s's channels (or patterns), sorted: UNSUBSCRIBE without
// arguments confirms them in this order (Redis's is its dict's order).
func (ps *pubsub) names(s *subscriber, pattern bool) []string {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	own := s.channels
	if pattern {
		own = s.patterns
	}
	out := make([]string, 0, len(own))
	for k := range own {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// drop removes every subscription of s (its connection closed or RESET).
func (ps *pubsub) drop(s *subscriber) {
	for _, ch := range ps.names(s, false) {
		ps.unsubscribe(s, ch, false)
	}
	for _, p := range ps.names(s, true) {
		ps.unsubscribe(s, p, true)
	}
}

// publish delivers message to this node's subscribers of channel and of
// the patterns matching it, and answers how many received it (Redis's
// count: one per channel subscription plus one per matching pattern
// subscription).
func (ps *pubsub) publish(channel, message []byte) int {
	if ps.nsubs.Load() == 0 {
		return 0
	}
	ch := string(channel)
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	n := 0
	for s := range ps.channels[ch] {
		s.c.Push(func(w *resp.Writer) {
			w.WritePushLen(3)
			w.WriteBulkString("message")
			w.WriteBulk(channel)
			w.WriteBulk(message)
		})
		n++
	}
	for pat, subs := range ps.patterns {
		if !glob.Match(pat, ch) {
			continue
		}
		for s := range subs {
			s.c.Push(func(w *resp.Writer) {
				w.WritePushLen(4)
				w.WriteBulkString("pmessage")
				w.WriteBulkString(pat)
				w.WriteBulk(channel)
				w.WriteBulk(message)
			})
			n++
		}
	}
	return n
}

// activeChannels answers PUBSUB CHANNELS [pattern]: channels with at
// least one subscriber on this node, sorted.
func (ps *pubsub) activeChannels(pattern string) []string {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	var out []string
	for ch := range ps.channels {
		if pattern == "" || glob.Match(pattern, ch) {
			out = append(out, ch)
		}
	}
	slices.Sort(out)
	return out
}

// numSub answers PUBSUB NUMSUB for one channel.
func (ps *pubsub) numSub(channel string) int {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return len(ps.channels[channel])
}

// numPat answers PUBSUB NUMPAT: patterns with a subscriber (Redis counts
// unique patterns).
func (ps *pubsub) numPat() int {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return len(ps.patterns)
}
