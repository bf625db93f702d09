package raftcodec

import "errors"

// ErrMalformed is wrapped by every decoding error: the input is truncated,
// has trailing bytes, or holds a value out of range (a length beyond the
// input, a boolean other than 0 or 1, nanoseconds of a second >= 1e9).
var ErrMalformed = errors.New("raftcodec: malformed message")
