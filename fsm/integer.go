package fsm

import "strconv"

// parseInt reads a value as Redis's string2ll does for INCRBY and HINCRBY:
// an optional '-' and decimal digits, without a '+', spaces or leading
// zeros ("0" itself aside, "-0" refused), within the 64-bit range.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	digits := b
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || digits[0] < '1' || digits[0] > '9' {
		return 0, false
	}
	for _, c := range digits[1:] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// addInt returns v + by, failing as Redis does when the sum leaves the
// 64-bit range.
func addInt(v, by int64) (int64, error) {
	if by < 0 && v < 0 && by < minInt64-v || by > 0 && v > 0 && by > maxInt64-v {
		return 0, errf(ErrOverflow, "%d + %d", v, by)
	}
	return v + by, nil
}

const (
	maxInt64 = 1<<63 - 1
	minInt64 = -1 << 63
)
