package raftnet

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Wire protocol, after the mux's header and ack on a connection of kind
// 'B' (mux.BinaryRaftLayer):
//
//	dialer:   version u8 (protoVersion), then request frames
//	request:  len u32 | type u8 | message (transport/raftcodec)
//	          [InstallSnapshot: then exactly Size bytes of snapshot]
//	response: len u32 | status u8 | [status 1: uvarint n | n bytes error]
//	          | message of the request type's response
//
// len counts the bytes after itself; integers are big-endian. Responses
// come back in request order (the acceptor serves one connection's
// requests one at a time), which is what lets a pipeline match them
// without ids. An error response still carries a response message, as
// raft's own transport does.
const (
	protoVersion = 1

	frameHeaderLen = 5 // len u32 + type/status u8

	typeAppendEntries   = 1
	typeRequestVote     = 2
	typeInstallSnapshot = 3
	typeTimeoutNow      = 4
	typeRequestPreVote  = 5

	statusOK  = 0
	statusErr = 1
)

// appendFrame appends a frame of type typ whose message enc appends, and
// checks it against max. On error dst is returned unchanged in length.
func appendFrame(dst []byte, typ byte, max int64, enc func([]byte) []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, typ)
	dst = enc(dst)
	n := int64(len(dst) - start)
	if n > max {
		return dst[:start], fmt.Errorf("%w: %d bytes, MaxFrameBytes %d", ErrFrameTooLarge, n, max)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(n-4))
	return dst, nil
}

// appendResponse appends a response frame: status, error text (when err
// is not nil) and the message enc appends.
func appendResponse(dst []byte, rpcErr error, max int64, enc func([]byte) []byte) ([]byte, error) {
	if rpcErr == nil {
		return appendFrame(dst, statusOK, max, enc)
	}
	msg := rpcErr.Error()
	return appendFrame(dst, statusErr, max, func(b []byte) []byte {
		b = binary.AppendUvarint(b, uint64(len(msg)))
		return enc(append(b, msg...))
	})
}

// readFrame reads one frame: its type (or status) byte and body. The body
// is a fresh buffer the caller owns (decoded messages alias it).
func readFrame(br *bufio.Reader, max int64) (byte, []byte, error) {
	var h [frameHeaderLen]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return 0, nil, fmt.Errorf("%w: truncated frame header", ErrProtocol)
		}
		return 0, nil, err
	}
	n := int64(binary.BigEndian.Uint32(h[:4]))
	if n < 1 {
		return 0, nil, fmt.Errorf("%w: frame length %d", ErrProtocol, n)
	}
	if n+4 > max {
		return 0, nil, fmt.Errorf("%w: %d bytes, MaxFrameBytes %d", ErrFrameTooLarge, n+4, max)
	}
	body, err := readGrowing(br, int(n-1))
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return h[4], body, nil
}

// firstChunk is the most a frame body gets before its bytes arrive.
const firstChunk = 64 << 10

// readGrowing reads exactly n bytes into a buffer that starts at
// min(n, firstChunk) and doubles as bytes arrive: a length claiming
// gigabytes costs firstChunk until the peer really sends them, and the
// memory held is never more than twice the bytes received plus firstChunk.
func readGrowing(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, min(n, firstChunk))
	got := 0
	for {
		k, err := io.ReadFull(r, buf[got:])
		got += k
		if err != nil {
			return nil, err
		}
		if got == n {
			return buf, nil
		}
		next := make([]byte, min(n, 2*len(buf)))
		copy(next, buf)
		buf = next
	}
}

// splitResponse parses a response body: the error text, if any, and the
// message.
func splitResponse(status byte, body []byte) (rpcErr string, msg []byte, err error) {
	switch status {
	case statusOK:
		return "", body, nil
	case statusErr:
		n, k := binary.Uvarint(body)
		if k <= 0 || n > uint64(len(body)-k) {
			return "", nil, fmt.Errorf("%w: bad error text in a response", ErrProtocol)
		}
		return string(body[k : k+int(n)]), body[k+int(n):], nil
	default:
		return "", nil, fmt.Errorf("%w: response status %d", ErrProtocol, status)
	}
}
