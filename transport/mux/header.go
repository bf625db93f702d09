package mux

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Connection header, written by the dialer as the first bytes of every
// connection (inside TLS when TLS is configured):
//
//	"SRMX" | version u8 | kind u8 ('R'|'B'|'P') | [group u16, raft only] |
//	addrLen u16 | addr (the dialer's advertised mux address) |
//	[idLen u8 | id (the node id the dialer claims to be), version 2 only]
//
// Version 1 has no id; a dialer without a node id sends it, so plaintext
// clusters speak exactly the header they did before ids existed. With TLS
// the acceptor requires version 2 and an id equal to the certificate's.
// All integers are big-endian. The acceptor replies with the single byte
// ackByte once it has accepted the connection (header valid, identity
// proven, peer not blocked, group known); otherwise it closes the
// connection.
const (
	headerMagic     = "SRMX"
	headerVersion   = 1
	headerVersionID = 2

	kindRaft = 'R'
	// kindRaftBin is a raft group's connection for transport/raftnet's
	// binary protocol. A mux that predates it refuses the header (unknown
	// kind) before the ack, so a dialer learns that without sending a byte.
	kindRaftBin = 'B'
	kindRPC     = 'P'

	ackByte = 0x06

	// maxAddrLen bounds the advertised address: a DNS name (253) plus
	// ":65535" fits easily, and a garbage length cannot make us allocate much.
	maxAddrLen = 1024

	// maxIDLen bounds the claimed node id (one length byte).
	maxIDLen = 255
)

// header is the parsed connection header.
type header struct {
	kind  byte
	group uint16 // meaningful for kindRaft and kindRaftBin only
	addr  string // dialer's advertised mux address
	id    string // node id the dialer claims; "" in a version 1 header
}

// appendHeader encodes h. It fails only for an address that cannot be sent.
func appendHeader(dst []byte, h header) ([]byte, error) {
	if len(h.addr) == 0 || len(h.addr) > maxAddrLen {
		return nil, fmt.Errorf("%w: advertised address length %d not in 1..%d", ErrBadHeader, len(h.addr), maxAddrLen)
	}
	if len(h.id) > maxIDLen {
		return nil, fmt.Errorf("%w: node id length %d over %d", ErrBadHeader, len(h.id), maxIDLen)
	}
	version := byte(headerVersion)
	if h.id != "" {
		version = headerVersionID
	}
	dst = append(dst, headerMagic...)
	dst = append(dst, version, h.kind)
	switch h.kind {
	case kindRaft, kindRaftBin:
		dst = binary.BigEndian.AppendUint16(dst, h.group)
	case kindRPC:
	default:
		return nil, fmt.Errorf("%w: kind %q", ErrBadHeader, h.kind)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(h.addr)))
	dst = append(dst, h.addr...)
	if h.id != "" {
		dst = append(dst, byte(len(h.id)))
		dst = append(dst, h.id...)
	}
	return dst, nil
}

// readHeader reads exactly one header from r and nothing more, so the
// connection can be handed on unbuffered (raft wraps it in its own bufio).
func readHeader(r io.Reader) (header, error) {
	var h header
	var b [6]byte
	if _, err := io.ReadFull(r, b[:6]); err != nil {
		return h, fmt.Errorf("%w: %w", ErrBadHeader, err)
	}
	if string(b[:4]) != headerMagic {
		return h, fmt.Errorf("%w: bad magic %q", ErrBadHeader, b[:4])
	}
	version := b[4]
	if version != headerVersion && version != headerVersionID {
		return h, fmt.Errorf("%w: unsupported version %d", ErrBadHeader, b[4])
	}
	h.kind = b[5]
	switch h.kind {
	case kindRaft, kindRaftBin:
		if _, err := io.ReadFull(r, b[:2]); err != nil {
			return h, fmt.Errorf("%w: %w", ErrBadHeader, err)
		}
		h.group = binary.BigEndian.Uint16(b[:2])
	case kindRPC:
	default:
		return h, fmt.Errorf("%w: unknown kind %q", ErrBadHeader, h.kind)
	}
	if _, err := io.ReadFull(r, b[:2]); err != nil {
		return h, fmt.Errorf("%w: %w", ErrBadHeader, err)
	}
	n := int(binary.BigEndian.Uint16(b[:2]))
	if n == 0 || n > maxAddrLen {
		return h, fmt.Errorf("%w: advertised address length %d not in 1..%d", ErrBadHeader, n, maxAddrLen)
	}
	addr := make([]byte, n)
	if _, err := io.ReadFull(r, addr); err != nil {
		return h, fmt.Errorf("%w: %w", ErrBadHeader, err)
	}
	h.addr = string(addr)
	if version == headerVersion {
		return h, nil
	}
	if _, err := io.ReadFull(r, b[:1]); err != nil {
		return h, fmt.Errorf("%w: %w", ErrBadHeader, err)
	}
	if b[0] == 0 {
		return h, fmt.Errorf("%w: empty node id in a version %d header", ErrBadHeader, version)
	}
	id := make([]byte, b[0])
	if _, err := io.ReadFull(r, id); err != nil {
		return h, fmt.Errorf("%w: %w", ErrBadHeader, err)
	}
	h.id = string(id)
	return h, nil
}
