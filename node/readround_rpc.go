package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
)

// rpcReadRound: a read cycle's request to one peer (readcycles.go). The
// payload is the part count, then per part its kind, group, the
// follower's term (read index only), and the server id with its length.
// The reply is one answer per part, in order: a status, then the value
// (partOK) or a message with its length (partErr).

// maxRoundParts bounds the parts of one request, sent and accepted: two
// per group (a term poll and a read index) for the most groups a node has.
const maxRoundParts = 2 * 1024

// Part kinds.
const (
	partTerm      byte = 0 // group, server id → the peer's term in the group
	partReadIndex byte = 1 // group, follower term, server id → the leader's read index
)

// Part answer statuses.
const (
	partOK    byte = 0 // a value follows
	partErr   byte = 1 // a message follows
	partRound byte = 2 // a read index that needs a leadership round: ask with rpcReadIndex
)

// partAnswer is one part's answer.
type partAnswer struct {
	status byte
	value  uint64
	err    error
}

// encodeRoundRequest is rpcReadRound's payload: the part count, then per
// part its kind, group, the follower's term (read index only), and the
// server id with its length.
func encodeRoundRequest(parts []roundPart) []byte {
	b := make([]byte, 0, 8+len(parts)*24)
	b = binary.AppendUvarint(b, uint64(len(parts)))
	for _, p := range parts {
		b = append(b, p.kind)
		b = binary.AppendUvarint(b, uint64(p.group))
		if p.kind == partReadIndex {
			b = binary.AppendUvarint(b, p.term)
		}
		b = binary.AppendUvarint(b, uint64(len(p.id)))
		b = append(b, p.id...)
	}
	return b
}

// partRequest is one decoded part of a request.
type partRequest struct {
	kind  byte
	group uint64
	term  uint64
	id    []byte
}

// errBadRoundRequest refuses an undecodable rpcReadRound payload.
var errBadRoundRequest = errors.New("bad read-round request")

// decodeRoundRequest reads rpcReadRound's payload.
func decodeRoundRequest(b []byte) ([]partRequest, error) {
	count, k := binary.Uvarint(b)
	if k <= 0 || count == 0 || count > maxRoundParts || count > uint64(len(b)) {
		return nil, errBadRoundRequest
	}
	b = b[k:]
	parts := make([]partRequest, 0, count)
	for range count {
		if len(b) == 0 {
			return nil, errBadRoundRequest
		}
		p := partRequest{kind: b[0]}
		b = b[1:]
		if p.kind != partTerm && p.kind != partReadIndex {
			return nil, errBadRoundRequest
		}
		if p.group, k = binary.Uvarint(b); k <= 0 {
			return nil, errBadRoundRequest
		}
		b = b[k:]
		if p.kind == partReadIndex {
			if p.term, k = binary.Uvarint(b); k <= 0 {
				return nil, errBadRoundRequest
			}
			b = b[k:]
		}
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, errBadRoundRequest
		}
		p.id = b[k : k+int(l)]
		b = b[k+int(l):]
		parts = append(parts, p)
	}
	if len(b) != 0 {
		return nil, errBadRoundRequest
	}
	return parts, nil
}

// appendPartAnswer appends one part's answer to an rpcReadRound reply:
// its status, then the value (partOK) or the message with its length
// (partErr).
func appendPartAnswer(b []byte, a partAnswer) []byte {
	b = append(b, a.status)
	switch a.status {
	case partOK:
		b = binary.AppendUvarint(b, a.value)
	case partErr:
		msg := a.err.Error()
		if len(msg) > maxPartErrMsg {
			msg = msg[:maxPartErrMsg]
		}
		b = binary.AppendUvarint(b, uint64(len(msg)))
		b = append(b, msg...)
	}
	return b
}

// maxPartErrMsg bounds a part's error message on the wire.
const maxPartErrMsg = 256

// errBadRoundReply is an rpcReadRound reply that does not decode: its
// parts fail, as for a lost answer.
var errBadRoundReply = errors.New("bad read-round reply")

// decodeRoundReply reads an rpcReadRound reply to a request of want parts.
func decodeRoundReply(b []byte, want int) ([]partAnswer, error) {
	answers := make([]partAnswer, 0, want)
	for len(b) > 0 && len(answers) < want {
		a := partAnswer{status: b[0]}
		b = b[1:]
		switch a.status {
		case partOK:
			v, k := binary.Uvarint(b)
			if k <= 0 {
				return nil, errBadRoundReply
			}
			a.value, b = v, b[k:]
		case partErr:
			l, k := binary.Uvarint(b)
			if k <= 0 || l > uint64(len(b)-k) || l > maxPartErrMsg {
				return nil, errBadRoundReply
			}
			a.err = &partError{msg: string(b[k : k+int(l)])}
			b = b[k+int(l):]
		case partRound:
		default:
			return nil, errBadRoundReply
		}
		answers = append(answers, a)
	}
	if len(answers) != want || len(b) != 0 {
		return nil, errBadRoundReply
	}
	return answers, nil
}

// partError is a part's error as its peer gave it.
type partError struct{ msg string }

func (e *partError) Error() string { return e.msg }

// handleReadRoundRPC serves rpcReadRound: each part is answered as its
// single-part method would answer it, without waiting (the mux runs it
// inline): a term part as rpcTerm does (termAnswer); a read-index part as
// rpcReadIndex does when the follower's term confirms this leader
// (followerConfirms), and partRound otherwise, for the follower to ask
// with rpcReadIndex, which waits for a round.
func (n *Node) handleReadRoundRPC(ctx context.Context, payload []byte) ([]byte, error) {
	parts, err := decodeRoundRequest(payload)
	if err != nil {
		return nil, asReply(fmt.Errorf("%w: %v", ErrBadArg, err))
	}
	closing := false
	select {
	case <-n.closing:
		closing = true
	default:
	}
	out := make([]byte, 0, 4+len(parts)*10)
	for i := range parts {
		out = appendPartAnswer(out, n.answerPart(ctx, &parts[i], closing))
	}
	return out, nil
}

// answerPart answers one part of an rpcReadRound request.
func (n *Node) answerPart(ctx context.Context, p *partRequest, closing bool) partAnswer {
	g, err := n.group(int(min(p.group, 1<<30))) // an absurd id is just not a group
	if err != nil {
		return partAnswer{status: partErr, err: err}
	}
	if p.kind == partTerm {
		t, err := n.termAnswer(g, p.id)
		if err != nil {
			return partAnswer{status: partErr, err: err}
		}
		return partAnswer{status: partOK, value: t}
	}
	if closing { // its groups are about to close: no new read indexes
		return partAnswer{status: partErr, err: errShuttingDown}
	}
	ri, ok := g.readIndexNow()
	if !ok {
		return partAnswer{status: partErr, err: errNotReadyLeader}
	}
	if !g.followerConfirms(ctx, ri, p.term, string(p.id)) {
		return partAnswer{status: partRound}
	}
	g.readIndexByTerm.Add(1)
	return partAnswer{status: partOK, value: ri.index}
}

// errShuttingDown refuses a read index from a node that is closing.
var errShuttingDown = fmt.Errorf("%w: shutting down", ErrNotLeader)
