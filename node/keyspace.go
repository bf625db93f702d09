package node

import (
	"fmt"
	"strings"

	"github.com/sessionraft/sessionraft/fsm"
)

// Keyspace notifications, as Redis's notify.c defines them: with
// notify-keyspace-events set, a change to key emits event on
// "__keyspace@0__:<key>" and key on "__keyevent@0__:<event>".
//
// Every node applies every entry of the groups it is a member of, so each
// node emits the events of the entries it applies, to its own subscribers
// only: a subscriber hears each change once, from the node it is connected
// to, and hears nothing while its node lags or is cut off (as a Redis
// replica's subscribers do). The events are the state machine's own
// report of what each command did (fsm.Notify, installed by raftFSM), so
// a command that changed nothing reports nothing, and every write command
// reports Redis's events (TestKeyspaceEventsMatchRedis).

// Notification flag bits (Redis's NOTIFY_*), and their letters.
const (
	notifyKeyspace uint32 = 1 << iota // K
	notifyKeyevent                    // E
	notifyGeneric                     // g: del, expire, rename_*...
	notifyString                      // $
	notifyList                        // l
	notifySet                         // s
	notifyHash                        // h
	notifyZset                        // z
	notifyExpired                     // x
	notifyEvicted                     // e
	notifyStream                      // t
	notifyKeyMiss                     // m
	notifyModule                      // d
	notifyNew                         // n

	// notifyAll is "A": every class but key-miss and new-key events.
	notifyAll = notifyGeneric | notifyString | notifyList | notifySet | notifyHash |
		notifyZset | notifyExpired | notifyEvicted | notifyStream | notifyModule
)

// notifyLetters maps each letter to its bits, in the order Redis prints
// them (keyspaceEventsFlagsToString).
var notifyLetters = []struct {
	c byte
	f uint32
}{
	{'g', notifyGeneric}, {'$', notifyString}, {'l', notifyList}, {'s', notifySet},
	{'h', notifyHash}, {'z', notifyZset}, {'x', notifyExpired}, {'e', notifyEvicted},
	{'t', notifyStream}, {'d', notifyModule}, {'n', notifyNew},
}

// parseNotifyFlags reads a notify-keyspace-events value as Redis's
// keyspaceEventsStringToFlags does; any other character is an error.
func parseNotifyFlags(s string) (uint32, error) {
	var f uint32
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case 'A':
			f |= notifyAll
		case 'K':
			f |= notifyKeyspace
		case 'E':
			f |= notifyKeyevent
		case 'm':
			f |= notifyKeyMiss
		default:
			found := false
			for _, l := range notifyLetters {
				if l.c == c {
					f |= l.f
					found = true
				}
			}
			if !found {
				return 0, fmt.Errorf("%w: invalid notify-keyspace-events flag %q", ErrBadArg, string(c))
			}
		}
	}
	return f, nil
}

// formatNotifyFlags prints flags as Redis's CONFIG GET shows them (with
// "A", Redis drops "n": so do we).
func formatNotifyFlags(f uint32) string {
	var b strings.Builder
	if f&notifyAll == notifyAll {
		b.WriteByte('A')
	} else {
		for _, l := range notifyLetters {
			if f&l.f != 0 {
				b.WriteByte(l.c)
			}
		}
	}
	if f&notifyKeyspace != 0 {
		b.WriteByte('K')
	}
	if f&notifyKeyevent != 0 {
		b.WriteByte('E')
	}
	if f&notifyKeyMiss != 0 {
		b.WriteByte('m')
	}
	return b.String()
}

// eventClass is the notification class of each event this node emits.
func eventClass(event string) uint32 {
	switch event {
	case "expired":
		return notifyExpired
	case "evicted":
		return notifyEvicted
	case "new":
		return notifyNew
	case "hset", "hdel", "hincrby", "hincrbyfloat":
		return notifyHash
	case "set", "setrange", "incrby", "incrbyfloat", "append":
		return notifyString
	case "sadd", "srem", "spop", "smove", "sinterstore", "sunionstore", "sdiffstore":
		return notifySet
	default: // del, expire, rename_from, rename_to, persist, ...
		return notifyGeneric
	}
}

// keyspaceWanted reports whether any event may be delivered now: some
// flags are set and someone on this node subscribes. The apply path asks
// first, so it does no work for events nobody can hear.
func (ps *pubsub) keyspaceWanted() bool {
	f := ps.notify.Load()
	return f&(notifyKeyspace|notifyKeyevent) != 0 && ps.nsubs.Load() > 0
}

// publishKeyspace delivers one event to this node's subscribers, as the
// flags say (Redis's notifyKeyspaceEvent, database 0).
func (ps *pubsub) publishKeyspace(event, key string) {
	f := ps.notify.Load()
	if f&eventClass(event) == 0 || ps.nsubs.Load() == 0 {
		return
	}
	if f&notifyKeyspace != 0 {
		ps.publish([]byte("__keyspace@0__:"+key), []byte(event))
	}
	if f&notifyKeyevent != 0 {
		ps.publish([]byte("__keyevent@0__:"+event), []byte(key))
	}
}

// keyEvents implements raftFSM's events hook: the state machine's own
// report of what each command did (fsm.Event), Redis's event names.
func (ps *pubsub) keyEvents(evs []fsm.Event) {
	for _, e := range evs {
		if e.Type == fsm.EventFlush {
			continue // client-side caching's; Redis publishes nothing per key for FLUSHDB/FLUSHALL
		}
		ps.publishKeyspace(e.Type.String(), e.Key)
	}
}
