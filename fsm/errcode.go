package fsm

import "errors"

// Error codes carry a Result's error across the wire and through the dedup
// table. The numbers are part of the wire and snapshot formats: never reuse
// or renumber one.
const (
	codeNone       uint8 = 0
	codeNotFound   uint8 = 1
	codeExists     uint8 = 2
	codeConflict   uint8 = 3
	codeTooLarge   uint8 = 4
	codeInvalid    uint8 = 5
	codeCorrupt    uint8 = 6
	codeUnknownCmd uint8 = 7
	codeWrongType  uint8 = 8
	codeNotInteger uint8 = 9
	codeOverflow   uint8 = 10
	codeOther      uint8 = 255 // an error that wraps none of the sentinels
)

var codeSentinels = [...]error{
	codeNotFound:   ErrNotFound,
	codeExists:     ErrExists,
	codeConflict:   ErrConflict,
	codeTooLarge:   ErrTooLarge,
	codeInvalid:    ErrInvalid,
	codeCorrupt:    ErrCorrupt,
	codeUnknownCmd: ErrUnknownCmd,
	codeWrongType:  ErrWrongType,
	codeNotInteger: ErrNotInteger,
	codeOverflow:   ErrOverflow,
}

// decodedError is an error rebuilt from the code and message stored in an
// encoded Result or dedup entry: it prints the original message and unwraps
// to the sentinel of its code, so errors.Is works the same on both sides of
// the wire. It also keeps codes this binary does not know, so they survive
// being passed on.
type decodedError struct {
	code uint8
	msg  string
}

func (e *decodedError) Error() string {
	if e.msg == "" {
		if s := sentinelOf(e.code); s != nil {
			return s.Error()
		}
		return "fsm: error"
	}
	return e.msg
}

func (e *decodedError) Unwrap() error { return sentinelOf(e.code) }

func sentinelOf(code uint8) error {
	if int(code) < len(codeSentinels) {
		return codeSentinels[code]
	}
	return nil
}

// errorCode maps err to its code and message. Wrapped sentinels are found
// with errors.Is, checked in code order so the mapping is deterministic.
func errorCode(err error) (uint8, string) {
	if err == nil {
		return codeNone, ""
	}
	var ce *decodedError
	if errors.As(err, &ce) {
		return ce.code, err.Error()
	}
	for code, s := range codeSentinels {
		if s != nil && errors.Is(err, s) {
			return uint8(code), err.Error()
		}
	}
	return codeOther, err.Error()
}

// errorFromCode rebuilds an error from errorCode's output; nil for codeNone.
func errorFromCode(code uint8, msg string) error {
	if code == codeNone {
		return nil
	}
	return &decodedError{code: code, msg: msg}
}
