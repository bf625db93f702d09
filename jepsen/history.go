package jepsen

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/sessionraft/sessionraft/client"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// Outcome of one operation.
type Outcome string

const (
	OK      Outcome = "ok"      // acknowledged
	Fail    Outcome = "fail"    // definitely not applied (or a read that got no answer)
	Unknown Outcome = "unknown" // a write that may or may not have been applied
)

// Op is one operation of a history. Times are nanoseconds on the harness's
// monotonic clock since the run started.
type Op struct {
	Process  int     `json:"process"`
	Workload string  `json:"workload"`
	F        string  `json:"f"`   // write, cas, read, stale-read, create, destroy, rotate, ...
	Key      string  `json:"key"` // session id
	Value    string  `json:"value,omitempty"`
	IfVer    uint64  `json:"if_version,omitempty"` // cas: expected version
	Version  uint64  `json:"version,omitempty"`    // version written or read
	Found    bool    `json:"found,omitempty"`      // reads: the session was served
	NewKey   string  `json:"new_key,omitempty"`    // rotate: new id
	Node     string  `json:"node,omitempty"`       // "client" or the node a direct read went to
	TTL      int64   `json:"ttl_ns,omitempty"`
	Call     int64   `json:"call"`
	Return   int64   `json:"return"`
	Outcome  Outcome `json:"outcome"`
	Conflict bool    `json:"conflict,omitempty"` // cas: failed on version mismatch
	Err      string  `json:"err,omitempty"`
}

// History collects operations from concurrent workers.
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []Op
}

func newHistory(start time.Time) *History { return &History{start: start} }

// Now is the harness clock: monotonic nanoseconds since the run started.
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

func (h *History) add(op Op) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// Ops returns a copy of the operations so far.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// WriteJSON writes one operation per line.
func WriteJSON(w io.Writer, ops []Op) error {
	enc := json.NewEncoder(w)
	for _, op := range ops {
		if err := enc.Encode(op); err != nil {
			return err
		}
	}
	return nil
}

// ReadJSON reads a history written by WriteJSON.
func ReadJSON(r io.Reader) ([]Op, error) {
	dec := json.NewDecoder(r)
	var ops []Op
	for {
		var op Op
		if err := dec.Decode(&op); err == io.EOF {
			return ops, nil
		} else if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
}

// writeOutcome classifies a write's error: OK, Fail (certainly not
// applied) or Unknown.
func writeOutcome(err error) Outcome {
	switch {
	case err == nil:
		return OK
	case errors.Is(err, client.ErrIndeterminate):
		// First: an indeterminate call may also wrap the refusal that
		// ended it (a later attempt's DISKFULL after an unknown one).
		return Unknown
	case errors.Is(err, client.ErrNotFound), errors.Is(err, client.ErrConflict),
		errors.Is(err, client.ErrUnavailable), errors.Is(err, client.ErrInvalid),
		errors.Is(err, client.ErrExists), errors.Is(err, client.ErrTooLarge),
		errors.Is(err, client.ErrDiskFull): // nothing applied (disk nemesis)
		return Fail
	default:
		// ErrIndeterminate, timeouts, closed connections.
		return Unknown
	}
}

// respWriteOutcome classifies a raw RESP write: only an error reply with a
// code that means "not applied" is a failure.
func respWriteOutcome(err error) Outcome {
	if err == nil {
		return OK
	}
	var se *resp.ServerError
	if errors.As(err, &se) {
		switch se.Code {
		case "NOTFOUND", "CONFLICT", "BADARG", "TOOLARGE", "EXISTS", "UNAVAILABLE", "NOTLEADER", "UNKNOWNCMD", "DISKFULL":
			return Fail
		}
	}
	return Unknown
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
