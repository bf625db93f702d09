package node

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessionraft/sessionraft/internal/glob"
)

// CONFIG GET and CONFIG SET (Redis's config.c) for the parameters client
// libraries and session stores probe. Values describe this server
// truthfully in Redis's terms; only notify-keyspace-events can be set, and
// it is per node (each node emits the events of its own subscribers).
// TIME is here too: it reads the node's clock.

// notifyClasses is the set of notify-keyspace-events letters, as Redis's
// error message lists them.
const notifyClasses = "Ag$lshzxeKEtmdn"

// configParams returns every parameter CONFIG GET knows, name -> value.
func (h *handler) configParams() map[string]string {
	cfg := h.n.cfg
	_, port, _ := net.SplitHostPort(h.n.clientAddr)
	fsync := "always"
	if cfg.NoSync {
		fsync = "no"
	}
	rc := cfg.RESP
	return map[string]string{
		"notify-keyspace-events": formatNotifyFlags(h.n.ps.notify.Load()),
		"databases":              "1",
		"maxmemory":              "0",
		"maxmemory-policy":       "noeviction",
		"maxclients":             strconv.Itoa(rc.MaxConns),
		"timeout":                strconv.FormatInt(int64(rc.IdleTimeout/time.Second), 10),
		"port":                   port,
		"cluster-enabled":        "no",
		// Every write is in the raft log, fsynced before it is
		// acknowledged: an always-fsynced append-only log in Redis's
		// terms, and no RDB save points.
		"save":                       "",
		"appendonly":                 "yes",
		"appendfsync":                fsync,
		"proto-max-bulk-len":         strconv.Itoa(rc.Limits.MaxBulkLen),
		"client-output-buffer-limit": fmt.Sprintf("normal 0 0 0 slave 0 0 0 pubsub %d 0 0", rc.MaxPushBytes),
	}
}

// config serves CONFIG GET pattern [pattern ...] and CONFIG SET
// notify-keyspace-events flags.
func (h *handler) config(q request) {
	args, r := q.args, q.r
	switch sub := strings.ToUpper(string(args[1])); {
	case sub == "GET" && len(args) >= 3:
		params := h.configParams()
		var names []string
		for name := range params {
			for _, p := range args[2:] {
				if glob.Match(strings.ToLower(string(p)), name) {
					names = append(names, name)
					break
				}
			}
		}
		slices.Sort(names)
		r.WriteMapLen(len(names))
		for _, name := range names {
			r.WriteBulkString(name)
			r.WriteBulkString(params[name])
		}
	case sub == "SET" && len(args) >= 4 && len(args)%2 == 0:
		// All or nothing, as Redis applies a multi-parameter SET.
		var flags uint32
		for i := 2; i < len(args); i += 2 {
			name := strings.ToLower(string(args[i]))
			if _, known := h.configParams()[name]; !known {
				writeErr(r, fmt.Errorf("%w: Unknown option or number of arguments for CONFIG SET - '%s'", ErrRedis, redisArg(args[i])))
				return
			}
			if name != "notify-keyspace-events" {
				writeErr(r, fmt.Errorf("%w: CONFIG SET failed (possibly related to argument '%s') - can't set immutable config", ErrRedis, name))
				return
			}
			f, err := parseNotifyFlags(string(args[i+1]))
			if err != nil {
				writeErr(r, fmt.Errorf("%w: CONFIG SET failed (possibly related to argument '%s') - Invalid event class character. Use '%s'.", ErrRedis, name, notifyClasses))
				return
			}
			flags = f
		}
		h.n.ps.notify.Store(flags)
		r.WriteSimple("OK")
	case sub == "GET" || sub == "SET":
		writeErr(r, fmt.Errorf("%w: wrong number of arguments for 'config|%s' command", ErrArity, strings.ToLower(sub)))
	default:
		writeErr(r, fmt.Errorf("%w: unknown subcommand '%s'. Try CONFIG HELP.", ErrRedis, redisArg(args[1])))
	}
}

// timeCmd answers TIME: this node's clock, seconds and microseconds.
func (h *handler) timeCmd(q request) {
	now := time.Now()
	q.r.WriteArrayLen(2)
	q.r.WriteBulkString(strconv.FormatInt(now.Unix(), 10))
	q.r.WriteBulkString(strconv.FormatInt(int64(now.Nanosecond()/1000), 10))
}
