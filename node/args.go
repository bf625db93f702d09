package node

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxDuration bounds TTLs and idle timeouts: ten years is longer than any
// session should live and keeps deadline arithmetic far from overflow.
const maxDuration = 10 * 365 * 24 * time.Hour

// parseDuration accepts whole seconds ("3600") or a Go duration ("1500ms",
// "30m"). It must be positive and at most ten years.
func parseDuration(b []byte) (time.Duration, error) {
	var d time.Duration
	if secs, ok := parseDigits(b); ok {
		if secs <= 0 || secs > int64(maxDuration/time.Second) {
			return 0, fmt.Errorf("%w: duration %q out of range (1s..10y)", ErrBadArg, b)
		}
		d = time.Duration(secs) * time.Second
	} else if ms, ok := parseDigits(bytes.TrimSuffix(b, []byte("ms"))); ok && len(b) > 2 && ms <= int64(maxDuration/time.Millisecond) {
		// The Go client's form (MAXSTALE 2000ms on every stale read):
		// parsed without building strings or errors.
		d = time.Duration(ms) * time.Millisecond
	} else if secs, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		// Signed or very long forms of seconds, as strconv reads them.
		if secs <= 0 || secs > int64(maxDuration/time.Second) {
			return 0, fmt.Errorf("%w: duration %q out of range (1s..10y)", ErrBadArg, b)
		}
		d = time.Duration(secs) * time.Second
	} else {
		d, err = time.ParseDuration(string(b))
		if err != nil {
			return 0, fmt.Errorf("%w: bad duration %q (seconds or e.g. 1500ms, 30m)", ErrBadArg, b)
		}
	}
	if d <= 0 || d > maxDuration {
		return 0, fmt.Errorf("%w: duration %q out of range (0..10y]", ErrBadArg, b)
	}
	return d, nil
}

// parseDigits parses a non-empty run of at most 18 decimal digits (so it
// cannot overflow), without allocating.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func parseUint(b []byte, what string) (uint64, error) {
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s must be a non-negative integer, got %q", ErrBadArg, what, b)
	}
	return v, nil
}

func parseLevel(b []byte) (string, error) {
	for _, l := range levelCodes { // returns the constant: no string per request
		if strings.EqualFold(string(b), l) {
			return l, nil
		}
	}
	return "", fmt.Errorf("%w: consistency must be linearizable, leader or stale, got %q", ErrBadArg, b)
}

// opt reports whether args[i] is the option keyword name (case-insensitive)
// and has a value after it.
func opt(args [][]byte, i int, name string) bool {
	return i+1 < len(args) && strings.EqualFold(string(args[i]), name)
}

func flag(args [][]byte, i int, name string) bool {
	return i < len(args) && strings.EqualFold(string(args[i]), name)
}
