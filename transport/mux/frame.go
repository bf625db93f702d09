package mux

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// RPC frames. Requests and responses share one shape:
//
//	len u32 | reqid u64 | tag u8 | payload
//
// len counts the bytes after itself (9 + len(payload)). For a request, tag is
// the method; for a response it is a status (statusOK or statusErr). An error
// payload is code (u16 length + bytes) followed by the message (rest).
// MaxRPCBytes limits the whole frame, 4 + len.
const (
	frameHeaderLen = 4 + 8 + 1
	frameFixed     = 8 + 1 // bytes counted by len before the payload
	maxFrameLimit  = math.MaxUint32

	statusOK  = 0
	statusErr = 1
)

// putFrameHeader encodes a frame header for a payload of n bytes.
func putFrameHeader(dst *[frameHeaderLen]byte, id uint64, tag byte, n int) {
	binary.BigEndian.PutUint32(dst[0:4], uint32(frameFixed+n))
	binary.BigEndian.PutUint64(dst[4:12], id)
	dst[12] = tag
}

// frameTooLargeError reports an oversized inbound frame whose header was
// read; the reader skips its body so the connection stays in sync and the
// receiver can still answer (server) or fail (client) that one request id.
type frameTooLargeError struct {
	id   uint64
	tag  byte
	size uint64 // whole frame on the wire
	body int64  // payload bytes still to skip
}

func (e *frameTooLargeError) Error() string {
	return fmt.Sprintf("mux: frame of %d bytes exceeds MaxRPCBytes", e.size)
}

func (e *frameTooLargeError) Is(target error) bool { return target == ErrFrameTooLarge }

// frameReader decodes frames from a buffered connection.
type frameReader struct {
	br  *bufio.Reader
	max int
	hdr [frameHeaderLen]byte
}

// next returns the next frame. A *frameTooLargeError leaves the reader at
// the start of the oversized payload; call skip to move past it. Any other
// error means the stream is unusable.
func (r *frameReader) next() (id uint64, tag byte, payload []byte, err error) {
	if _, err := io.ReadFull(r.br, r.hdr[:4]); err != nil {
		return 0, 0, nil, err
	}
	n := binary.BigEndian.Uint32(r.hdr[:4])
	if n < frameFixed {
		return 0, 0, nil, fmt.Errorf("%w: length %d shorter than frame header", ErrBadFrame, n)
	}
	if _, err := io.ReadFull(r.br, r.hdr[4:]); err != nil {
		return 0, 0, nil, unexpectedEOF(err)
	}
	id = binary.BigEndian.Uint64(r.hdr[4:12])
	tag = r.hdr[12]
	if size := uint64(n) + 4; size > uint64(r.max) {
		return id, tag, nil, &frameTooLargeError{id: id, tag: tag, size: size, body: int64(n) - frameFixed}
	}
	payload, err = readGrowing(r.br, int(n)-frameFixed)
	if err != nil {
		return 0, 0, nil, unexpectedEOF(err)
	}
	return id, tag, payload, nil
}

// firstChunk is the most a frame body gets before its bytes arrive.
const firstChunk = 32 << 10

// readGrowing reads exactly n bytes into a buffer that starts at
// min(n, firstChunk) and doubles as bytes arrive, so a frame header claiming
// a huge body costs at most firstChunk until the peer actually sends it; the
// memory ever held is below twice the bytes received plus firstChunk.
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

// skip discards the body of an oversized frame.
func (r *frameReader) skip(e *frameTooLargeError) error {
	_, err := io.CopyN(io.Discard, r.br, e.body)
	return unexpectedEOF(err)
}

// unexpectedEOF turns a clean EOF in the middle of a frame into
// io.ErrUnexpectedEOF: only a frame boundary is a clean end.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// encodeRemoteError builds an error payload, trimmed so that the frame fits
// in max bytes (the message is cut first, then the code).
func encodeRemoteError(code, msg string, max int) []byte {
	room := max - frameHeaderLen - 2
	if room < 0 {
		room = 0
	}
	if len(code) > math.MaxUint16 {
		code = code[:math.MaxUint16]
	}
	if len(code) > room {
		code = code[:room]
	}
	if len(msg) > room-len(code) {
		msg = msg[:room-len(code)]
	}
	b := make([]byte, 0, 2+len(code)+len(msg))
	b = binary.BigEndian.AppendUint16(b, uint16(len(code)))
	b = append(b, code...)
	return append(b, msg...)
}

// decodeRemoteError parses an error payload.
func decodeRemoteError(p []byte) (*RemoteError, error) {
	if len(p) < 2 {
		return nil, fmt.Errorf("%w: error payload of %d bytes", ErrBadFrame, len(p))
	}
	n := int(binary.BigEndian.Uint16(p))
	if len(p)-2 < n {
		return nil, fmt.Errorf("%w: error code length %d exceeds payload", ErrBadFrame, n)
	}
	return &RemoteError{Code: string(p[2 : 2+n]), Msg: string(p[2+n:])}, nil
}
