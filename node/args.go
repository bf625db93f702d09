package node

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// maxDuration bounds TTLs and idle timeouts: ten years is longer than any
// session should live and keeps deadline arithmetic far from overflow.
const maxDuration = 10 * 365 * 24 * time.Hour

// parseDuration accepts whole seconds ("3600") or a Go duration ("1500ms",
// "30m"). It must be positive and at most ten years.
func parseDuration(b []byte) (time.Duration, error) {
	s := string(b)
	var d time.Duration
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		if secs <= 0 || secs > int64(maxDuration/time.Second) {
			return 0, fmt.Errorf("%w: duration %q out of range (1s..10y)", ErrBadArg, s)
		}
		d = time.Duration(secs) * time.Second
	} else {
		d, err = time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%w: bad duration %q (seconds or e.g. 1500ms, 30m)", ErrBadArg, s)
		}
	}
	if d <= 0 || d > maxDuration {
		return 0, fmt.Errorf("%w: duration %q out of range (0..10y]", ErrBadArg, s)
	}
	return d, nil
}

func parseUint(b []byte, what string) (uint64, error) {
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s must be a non-negative integer, got %q", ErrBadArg, what, b)
	}
	return v, nil
}

func parseLevel(b []byte) (string, error) {
	l := strings.ToLower(string(b))
	if !wire.ValidConsistency(l) {
		return "", fmt.Errorf("%w: consistency must be linearizable, leader or stale, got %q", ErrBadArg, b)
	}
	return l, nil
}

// opt reports whether args[i] is the option keyword name (case-insensitive)
// and has a value after it.
func opt(args [][]byte, i int, name string) bool {
	return i+1 < len(args) && strings.EqualFold(string(args[i]), name)
}

func flag(args [][]byte, i int, name string) bool {
	return i < len(args) && strings.EqualFold(string(args[i]), name)
}
