package node

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// Library logs as structured records. hashicorp/raft logs through hclog
// with key/value pairs; hclogAdapter hands them to the node's slog logger
// as attributes (so --log-format json gives {"msg":"entering follower
// state","group":0,"leader-id":"n2",...} rather than one formatted
// string). memberlist writes "[LEVEL] memberlist: msg key=value" lines to
// a log.Logger; memberlistWriter parses them into level, message and
// fields. Both drop records below the library level (Config.RaftLogLevel)
// before any formatting.

// hclogAdapter is an hclog.Logger over slog.
type hclogAdapter struct {
	log   *slog.Logger
	name  string
	level *slog.LevelVar // shared with loggers derived by With/Named
	args  []any          // implied arguments (With)
}

// hclogger is raft's logger for one component (raft-g0, ...); a group's
// records carry its number as the group field, as the node's own do.
func (n *Node) hclogger(name string) hclog.Logger {
	lv := new(slog.LevelVar)
	lv.Set(n.cfg.RaftLogLevel)
	l := n.log.With("component", name)
	if g, err := strconv.Atoi(strings.TrimPrefix(name, "raft-g")); err == nil && strings.HasPrefix(name, "raft-g") {
		l = l.With("group", g)
	}
	return &hclogAdapter{log: l, name: name, level: lv}
}

func toSlog(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	case hclog.Off:
		return slog.LevelError + 100
	default:
		return slog.LevelInfo
	}
}

func toHclog(l slog.Level) hclog.Level {
	switch {
	case l < slog.LevelDebug:
		return hclog.Trace
	case l < slog.LevelInfo:
		return hclog.Debug
	case l < slog.LevelWarn:
		return hclog.Info
	case l < slog.LevelError:
		return hclog.Warn
	case l < slog.LevelError+100:
		return hclog.Error
	default:
		return hclog.Off
	}
}

func (a *hclogAdapter) enabled(l slog.Level) bool {
	return l >= a.level.Level() && a.log.Enabled(context.Background(), l)
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	l := toSlog(level)
	if !a.enabled(l) {
		return
	}
	attrs := make([]any, 0, len(a.args)+len(args))
	attrs = append(attrs, a.args...)
	attrs = append(attrs, pairs(args)...)
	a.log.Log(context.Background(), l, msg, attrs...)
}

// pairs turns hclog's alternating keys and values into slog arguments:
// values that are not strings, errors or numbers are formatted (raft
// passes its *Raft and addresses, which slog's JSON handler would
// otherwise encode field by field); an odd trailing value keeps hclog's
// EXTRA_VALUE_AT_END name.
func pairs(args []any) []any {
	out := make([]any, 0, len(args))
	for i := 0; i < len(args); i += 2 {
		if i+1 >= len(args) {
			out = append(out, slog.Any("EXTRA_VALUE_AT_END", plain(args[i])))
			break
		}
		key, ok := args[i].(string)
		if !ok {
			key = fmt.Sprint(args[i])
		}
		out = append(out, slog.Any(key, plain(args[i+1])))
	}
	return out
}

func plain(v any) any {
	switch x := v.(type) {
	case string, bool, int, int64, uint64, uint32, int32, float64, nil:
		return x
	case error:
		return x.Error()
	case hclog.Format:
		return fmt.Sprintf(x[0].(string), x[1:]...)
	default:
		return fmt.Sprint(x)
	}
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) IsTrace() bool { return a.enabled(toSlog(hclog.Trace)) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(slog.LevelDebug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(slog.LevelInfo) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(slog.LevelWarn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(slog.LevelError) }

func (a *hclogAdapter) ImpliedArgs() []any { return a.args }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.args = append(append([]any(nil), a.args...), pairs(args)...)
	return &c
}

func (a *hclogAdapter) Name() string { return a.name }

func (a *hclogAdapter) Named(name string) hclog.Logger {
	if a.name != "" {
		name = a.name + "." + name
	}
	return a.ResetNamed(name)
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

func (a *hclogAdapter) SetLevel(l hclog.Level) { a.level.Set(toSlog(l)) }
func (a *hclogAdapter) GetLevel() hclog.Level  { return toHclog(a.level.Level()) }

func (a *hclogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(nil), "", 0)
}

func (a *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return &memberlistWriter{log: a.log, level: a.level.Level()}
}

var _ hclog.Logger = (*hclogAdapter)(nil)

// memberlistWriter turns memberlist's log lines ("2026/01/02 15:04:05
// [DEBUG] memberlist: Stream connection from=1.2.3.4:5") into records:
// the bracketed level, the message, and trailing key=value words as
// fields.
type memberlistWriter struct {
	log   *slog.Logger
	level slog.Level // lines below it are dropped
	mu    sync.Mutex
}

func (w *memberlistWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		level, msg, attrs, ok := parseLibLine(sc.Text())
		if !ok || level < w.level {
			continue
		}
		w.log.Log(context.Background(), level, msg, attrs...)
	}
	return len(p), nil
}

// parseLibLine parses one "[LEVEL] source: message k=v k=v" line; text
// before the bracket (a date) is dropped. Lines without a level are info.
func parseLibLine(line string) (level slog.Level, msg string, attrs []any, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" {
		return 0, "", nil, false
	}
	level = slog.LevelInfo
	if i := strings.IndexByte(line, '['); i >= 0 {
		if j := strings.IndexByte(line[i:], ']'); j > 0 {
			switch line[i+1 : i+j] {
			case "ERR", "ERROR":
				level = slog.LevelError
			case "WARN", "WARNING":
				level = slog.LevelWarn
			case "DEBUG":
				level = slog.LevelDebug
			case "TRACE":
				level = slog.LevelDebug - 4
			case "INFO":
			default:
				j = -1
			}
			if j > 0 {
				line = strings.TrimSpace(line[i+j+1:])
			}
		}
	}
	if src, rest, found := strings.Cut(line, ": "); found && !strings.ContainsAny(src, " =") {
		attrs = append(attrs, "source", src)
		line = rest
	}
	// Trailing key=value words become fields; the rest is the message.
	words := strings.Fields(line)
	end := len(words)
	for end > 0 {
		k, v, found := strings.Cut(words[end-1], "=")
		if !found || k == "" || v == "" || strings.ContainsAny(k, ":\"'") {
			break
		}
		end--
	}
	for _, wd := range words[end:] {
		k, v, _ := strings.Cut(wd, "=")
		attrs = append(attrs, k, v)
	}
	msg = strings.Join(words[:end], " ")
	if msg == "" {
		msg = line
	}
	return level, msg, attrs, true
}
