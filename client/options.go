package client

import (
	"strings"
	"time"
)

// Option is a per-call option. Each call accepts only the options its
// documentation lists; any other is refused with ErrInvalid, so a typo such
// as passing WithConsistency to Create fails loudly instead of being
// silently ignored.
type Option func(*options)

// optBit names an option so calls can check which ones they accept.
type optBit uint16

const (
	optSubject optBit = 1 << iota
	optTTL
	optIdle
	optFields
	optID
	optConsistency
	optMaxStale
	optNoTouch
	optIfVersion
	optExcept
	optCache
)

var optNames = []string{"WithSubject", "WithTTL", "WithIdleTimeout", "WithField(s)", "WithID",
	"WithConsistency", "WithMaxStaleness", "WithoutTouch", "IfVersion", "WithExcept", "WithCache/WithoutCache"}

// Options each call accepts.
const (
	createOpts = optSubject | optTTL | optIdle | optFields | optID
	getOpts    = optConsistency | optMaxStale | optNoTouch | optCache
	setOpts    = optTTL | optIfVersion
	rotateOpts = optIfVersion
	listOpts   = optConsistency | optMaxStale
	revokeOpts = optExcept
)

type options struct {
	set         optBit
	err         error // the first invalid option value
	subject     string
	ttl         time.Duration
	idle        time.Duration
	fields      map[string][]byte
	fieldNames  []string // the keys of fields, in the order they were first added
	id          string
	consistency Consistency
	maxStale    time.Duration
	noTouch     bool
	ifVersion   uint64
	except      string
	cache       int8 // WithCache 1, WithoutCache -1, else 0
}

func (o *options) fail(err error) {
	if o.err == nil {
		o.err = err
	}
}

// collect applies opts and checks them against the call's accepted set.
func collect(call string, allowed optBit, opts []Option) (*options, error) {
	o, err := apply(opts)
	if err != nil {
		return nil, err
	}
	if bad := o.set &^ allowed; bad != 0 {
		var names []string
		for i, n := range optNames {
			if bad&(1<<i) != 0 {
				names = append(names, n)
			}
		}
		return nil, invalidf("%s does not take %s", call, strings.Join(names, ", "))
	}
	return o, nil
}

// apply runs opts and returns the first invalid value's error.
func apply(opts []Option) (*options, error) {
	o := &options{}
	for _, f := range opts {
		if f != nil {
			f(o)
		}
	}
	if o.err != nil {
		return nil, o.err
	}
	return o, nil
}

// WithSubject sets the user a new session belongs to (Create). Revoke and
// List find sessions by subject.
func WithSubject(subject string) Option {
	return func(o *options) { o.set |= optSubject; o.subject = subject }
}

// WithTTL gives a new session an absolute lifetime (Create), or moves an
// existing session's absolute deadline to now + d (Set, Unset).
func WithTTL(d time.Duration) Option {
	return func(o *options) {
		o.set |= optTTL
		if d <= 0 {
			o.fail(invalidf("WithTTL(%v): must be positive", d))
		}
		o.ttl = d
	}
}

// WithIdleTimeout makes a new session expire after d without access
// (Create). Reads count as accesses unless WithoutTouch; the server records
// them in batches, so the precision is its --touch-interval.
func WithIdleTimeout(d time.Duration) Option {
	return func(o *options) {
		o.set |= optIdle
		if d <= 0 {
			o.fail(invalidf("WithIdleTimeout(%v): must be positive", d))
		}
		o.idle = d
	}
}

// WithField adds one field to a new session (Create). Fields are sent in
// the order they are added; a name added again keeps its first place and
// takes the last value. Any name is allowed, including the server's option
// words (TTL, REQID, FIELDS, ...).
func WithField(name string, value []byte) Option {
	return func(o *options) {
		o.set |= optFields
		o.addField(name, value)
	}
}

// WithFields adds fields to a new session (Create), in name order (a map
// has none of its own).
func WithFields(fields map[string][]byte) Option {
	return func(o *options) {
		o.set |= optFields
		for _, k := range sortedKeys(fields) {
			o.addField(k, fields[k])
		}
	}
}

func (o *options) addField(name string, value []byte) {
	if o.fields == nil {
		o.fields = map[string][]byte{}
	}
	if _, ok := o.fields[name]; !ok {
		o.fieldNames = append(o.fieldNames, name)
	}
	o.fields[name] = value
}

// WithID creates the session under a caller-chosen id (Create), for stores
// that own their tokens. Create fails with ErrExists if the id is live.
func WithID(id string) Option {
	return func(o *options) {
		o.set |= optID
		if id == "" {
			o.fail(invalidf("WithID: empty id"))
		}
		o.id = id
	}
}

// WithConsistency chooses the read level (Get, List).
func WithConsistency(c Consistency) Option {
	switch c { // the levels' options are made once: no allocation per call
	case Linearizable:
		return withLinearizable
	case Leader:
		return withLeader
	case Stale:
		return withStale
	}
	return withConsistency(c)
}

var (
	withLinearizable = withConsistency(Linearizable)
	withLeader       = withConsistency(Leader)
	withStale        = withConsistency(Stale)
)

func withConsistency(c Consistency) Option {
	return func(o *options) {
		o.set |= optConsistency
		if !c.valid() {
			o.fail(invalidf("WithConsistency(%q): want linearizable, leader or stale", c))
		}
		o.consistency = c
	}
}

// WithMaxStaleness bounds the age of the state a replica serving a Stale
// read may have, by the log clock (see Stale) (Get, List).
func WithMaxStaleness(d time.Duration) Option {
	return func(o *options) {
		o.set |= optMaxStale
		if d <= 0 {
			o.fail(invalidf("WithMaxStaleness(%v): must be positive", d))
		}
		o.maxStale = d
	}
}

// WithoutTouch reads a session without counting the read as an access for
// its idle timeout (Get).
func WithoutTouch() Option {
	return func(o *options) { o.set |= optNoTouch; o.noTouch = true }
}

// IfVersion applies a write only if the session is still at version v
// (Set, Unset, Rotate); otherwise the call fails with ErrConflict.
// Versions come from Session.Version and from Set and Unset.
func IfVersion(v uint64) Option {
	return func(o *options) {
		o.set |= optIfVersion
		if v == 0 {
			o.fail(invalidf("IfVersion(0): versions start at 1"))
		}
		o.ifVersion = v
	}
}

// WithExcept keeps one session when revoking a subject's sessions (Revoke),
// typically the one making the request: "log out everywhere else".
func WithExcept(id string) Option {
	return func(o *options) { o.set |= optExcept; o.except = id }
}

// WithCache reads the session through the client-side cache (Get; needs
// Config.CacheSize, and a linearizable read). See Config.CacheSize.
func WithCache() Option {
	return func(o *options) { o.set |= optCache; o.cache = 1 }
}

// WithoutCache reads the session from the cluster even when
// Config.CacheReads caches Gets (Get).
func WithoutCache() Option {
	return func(o *options) { o.set |= optCache; o.cache = -1 }
}
