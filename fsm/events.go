package fsm

// Keyspace notifications. Apply reports, per applied command, the keys it
// changed and the Redis event name, so that the node can publish
// __keyspace@0__ and __keyevent@0__ messages. Every replica applies the same
// log and so reports the same events; each node publishes those of the
// entries it applies, and a subscriber hears every change once from the node
// it is connected to. Nothing is collected unless a Notify is installed.
//
// Besides the Redis commands' own events, the SESSION.* commands report
// what they do in Redis terms: a create "hset", a set "hset", "hdel" and
// "expire", a destroy or revoke "del" per session, a rotate "rename_from"
// and "rename_to", the sweeper's expire "expired". A record found expired
// by any command is removed on the spot and reported "expired", as Redis
// reports a key it expires lazily. FLUSHDB reports one EventFlush with no
// key (Redis publishes nothing for it: keyspace notifications skip it).

// EventType is a keyspace event.
type EventType uint8

// Event types; String is the Redis event name.
const (
	EventSet        EventType = iota + 1 // "set"
	EventDel                             // "del"
	EventExpire                          // "expire"
	EventExpired                         // "expired"
	EventPersist                         // "persist"
	EventRenameFrom                      // "rename_from"
	EventRenameTo                        // "rename_to"
	EventIncrBy                          // "incrby"
	EventAppend                          // "append"
	EventHSet                            // "hset"
	EventHDel                            // "hdel"
	EventHIncrBy                         // "hincrby"
	EventSAdd                            // "sadd"
	EventSRem                            // "srem"
	// EventFlush: the group's state was emptied (FLUSHDB); Key is "".
	// Redis publishes no keyspace event for it; client-side caching
	// (node/tracking.go) answers it with a flush-all invalidation.
	EventFlush // "flushdb"
)

var eventNames = [...]string{
	EventSet:        "set",
	EventDel:        "del",
	EventExpire:     "expire",
	EventExpired:    "expired",
	EventPersist:    "persist",
	EventRenameFrom: "rename_from",
	EventRenameTo:   "rename_to",
	EventIncrBy:     "incrby",
	EventAppend:     "append",
	EventHSet:       "hset",
	EventHDel:       "hdel",
	EventHIncrBy:    "hincrby",
	EventSAdd:       "sadd",
	EventSRem:       "srem",
	EventFlush:      "flushdb",
}

// String returns the Redis event name ("set", "del", ...).
func (e EventType) String() string {
	if int(e) < len(eventNames) && eventNames[e] != "" {
		return eventNames[e]
	}
	return "unknown"
}

// Class returns the notify-keyspace-events letter of the event's class:
// 'g' generic, '$' string, 'h' hash, 's' set, 'x' expired.
func (e EventType) Class() byte {
	switch e {
	case EventSet, EventIncrBy, EventAppend:
		return '$'
	case EventHSet, EventHDel, EventHIncrBy:
		return 'h'
	case EventSAdd, EventSRem:
		return 's'
	case EventExpired:
		return 'x'
	}
	return 'g'
}

// Event is one key changed by one command.
type Event struct {
	Cmd  int // the command's position in its entry (Batch.Cmds)
	Type EventType
	Key  string
}

// Notify receives the events of one applied entry, in the order they
// happened, after the entry's effects are visible to readers (AppliedIndex
// is index). It runs on the apply goroutine and holds it up: it should
// hand the events on and return. events is reused for the next entry:
// copy what is kept. It is not called for an entry without events.
type Notify func(index uint64, events []Event)

// SetNotify installs fn (nil: none, the default). Safe at any time but
// from inside a Notify (it waits for the entry being applied); it takes
// effect from the next entry.
func (f *FSM) SetNotify(fn Notify) {
	f.applyMu.Lock()
	f.notify = fn
	f.applyMu.Unlock()
}

// eventLog collects the events of the entry being applied.
type eventLog struct {
	events []Event
	cmd    int
}

// note records an event if anyone listens. Apply goroutine only.
func (st *state) note(typ EventType, key string) {
	if st.ev != nil {
		st.ev.events = append(st.ev.events, Event{Cmd: st.ev.cmd, Type: typ, Key: key})
	}
}
