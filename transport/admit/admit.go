// Package admit decides, before a byte is read, whether a new connection
// to a TLS port may start its handshake, and runs client-port handshakes
// off the accept path.
//
// A TLS handshake costs the server a key exchange and a signature before
// it knows anything about the peer, and a goroutine for as long as the
// peer takes. Unbounded, a flood of connections that never finish (or
// finish with junk) costs CPU and goroutines in proportion to the flood.
// A Gate bounds that:
//
//   - at most MaxHandshakes handshakes run at once, node-wide, and at most
//     MaxHandshakesPerIP from one source;
//   - each source may open RatePerIP new connections a second (bursts of
//     BurstPerIP);
//   - a connection beyond any of these is closed at once, before it costs a
//     handshake or a goroutine (the caller closes it and counts it).
//
// The per-source bounds keep a flood from one address from taking every
// handshake slot away from everyone else. A source is an IPv4 address or
// an IPv6 /64 (one host usually holds a whole /64). The table of sources is
// bounded too; a source past that bound is admitted on the global bound
// only.
//
// Stdlib only; the node and the internal port's mux both use it.
package admit

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Config is a Gate's bounds. Zero fields take DefaultConfig's values;
// RatePerIP < 0 turns the rate limit off.
type Config struct {
	// MaxHandshakes bounds handshakes running at once. Default 256.
	MaxHandshakes int
	// MaxHandshakesPerIP bounds those from one source. Default 32.
	MaxHandshakesPerIP int
	// RatePerIP is the new connections a source may open per second on
	// average, BurstPerIP how many at once. Defaults 50/s and 200.
	RatePerIP  float64
	BurstPerIP int
	// HandshakeTimeout bounds a handshake (Listener). Default 10s.
	HandshakeTimeout time.Duration
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{MaxHandshakes: 256, MaxHandshakesPerIP: 32, RatePerIP: 50, BurstPerIP: 200, HandshakeTimeout: 10 * time.Second}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxHandshakes <= 0 {
		c.MaxHandshakes = d.MaxHandshakes
	}
	if c.MaxHandshakesPerIP <= 0 {
		c.MaxHandshakesPerIP = d.MaxHandshakesPerIP
	}
	if c.RatePerIP == 0 {
		c.RatePerIP = d.RatePerIP
	}
	if c.BurstPerIP <= 0 {
		c.BurstPerIP = d.BurstPerIP
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = d.HandshakeTimeout
	}
	return c
}

// maxSources bounds the per-source table.
const maxSources = 1 << 14

// Stats are a Gate's counters since it was made.
type Stats struct {
	InFlight    int64  // handshakes running now
	Admitted    uint64 // connections let through to a handshake
	RateLimited uint64 // closed: their source was over its rate
	Busy        uint64 // closed: MaxHandshakes or MaxHandshakesPerIP reached
	Failed      uint64 // handshakes that failed or timed out (Listener only)
}

// Gate admits connections to handshakes. Safe for concurrent use.
type Gate struct {
	cfg Config

	inFlight                         atomic.Int64
	admitted, limited, busy, failure atomic.Uint64

	mu      sync.Mutex
	sources map[netip.Prefix]*source
	now     func() time.Time // time.Now; tests step it
}

type source struct {
	tokens   float64
	last     time.Time
	inFlight int
}

// New makes a Gate.
func New(cfg Config) *Gate {
	return &Gate{cfg: cfg.withDefaults(), sources: map[netip.Prefix]*source{}, now: time.Now}
}

// Config is the gate's configuration, defaults filled in.
func (g *Gate) Config() Config { return g.cfg }

// Stats returns the counters.
func (g *Gate) Stats() Stats {
	return Stats{InFlight: g.inFlight.Load(), Admitted: g.admitted.Load(), RateLimited: g.limited.Load(),
		Busy: g.busy.Load(), Failed: g.failure.Load()}
}

// Failed counts a handshake that failed (for callers that run their own).
func (g *Gate) Failed() { g.failure.Add(1) }

// Admit decides for a new connection from remote. When ok, the caller runs
// the handshake and then calls release exactly once; otherwise it closes
// the connection at once.
func (g *Gate) Admit(remote net.Addr) (release func(), ok bool) {
	key, keyed := sourceOf(remote)
	g.mu.Lock()
	var s *source
	if keyed {
		s = g.sourceLocked(key)
	}
	if s != nil && g.cfg.RatePerIP > 0 {
		now := g.now()
		s.tokens = min(float64(g.cfg.BurstPerIP), s.tokens+now.Sub(s.last).Seconds()*g.cfg.RatePerIP)
		s.last = now
		if s.tokens < 1 {
			g.mu.Unlock()
			g.limited.Add(1)
			return nil, false
		}
		s.tokens--
	}
	if g.inFlight.Load() >= int64(g.cfg.MaxHandshakes) || (s != nil && s.inFlight >= g.cfg.MaxHandshakesPerIP) {
		g.mu.Unlock()
		g.busy.Add(1)
		return nil, false
	}
	g.inFlight.Add(1)
	if s != nil {
		s.inFlight++
	}
	g.mu.Unlock()
	g.admitted.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			if s != nil {
				s.inFlight--
			}
			g.inFlight.Add(-1)
			g.mu.Unlock()
		})
	}, true
}

// sourceLocked returns key's entry, making it (with a full bucket) if
// there is room; nil when the table is full of sources that are not idle.
func (g *Gate) sourceLocked(key netip.Prefix) *source {
	if s := g.sources[key]; s != nil {
		return s
	}
	if len(g.sources) >= maxSources {
		g.sweepLocked()
		if len(g.sources) >= maxSources {
			return nil
		}
	}
	s := &source{tokens: float64(g.cfg.BurstPerIP), last: g.now()}
	g.sources[key] = s
	return s
}

// sweepLocked forgets sources with no handshake running whose bucket has
// refilled: forgetting them changes nothing.
func (g *Gate) sweepLocked() {
	now := g.now()
	for k, s := range g.sources {
		full := g.cfg.RatePerIP <= 0 || s.tokens+now.Sub(s.last).Seconds()*g.cfg.RatePerIP >= float64(g.cfg.BurstPerIP)
		if s.inFlight == 0 && full {
			delete(g.sources, k)
		}
	}
}

// sourceOf is the rate-limited unit of an address: the IPv4 address, or
// the IPv6 /64.
func sourceOf(a net.Addr) (netip.Prefix, bool) {
	var ip netip.Addr
	switch t := a.(type) {
	case *net.TCPAddr:
		ip = t.AddrPort().Addr()
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Prefix{}, false
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}
