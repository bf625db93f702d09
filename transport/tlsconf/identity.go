package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// URI SAN convention; see the package documentation.
const (
	uriScheme  = "sessionraft"
	nodeHost   = "node"
	clientHost = "client"

	// MaxIDLen bounds node ids and client names (the mux header carries an
	// id in a length byte).
	MaxIDLen = 255
)

// CheckID reports whether id can name a node or client in a certificate:
// 1..MaxIDLen bytes of UTF-8 without control or space characters.
func CheckID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("%w: length %d not in 1..%d", ErrBadID, len(id), MaxIDLen)
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("%w: not UTF-8", ErrBadID)
	}
	if i := strings.IndexFunc(id, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }); i >= 0 {
		return fmt.Errorf("%w: control or space character at byte %d", ErrBadID, i)
	}
	return nil
}

// NodeURI is the URI SAN naming node id.
func NodeURI(id string) *url.URL { return idURI(nodeHost, id) }

// ClientURI is the URI SAN naming a client certificate's holder.
func ClientURI(name string) *url.URL { return idURI(clientHost, name) }

func idURI(host, id string) *url.URL {
	return &url.URL{Scheme: uriScheme, Host: host, Path: "/" + id}
}

// parseIDURI returns the id of a sessionraft URI of the given host, or ok
// false if u is any other URI.
func parseIDURI(u *url.URL, host string) (id string, ok bool) {
	if u == nil || u.Scheme != uriScheme || u.Host != host || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "", false
	}
	id = u.Path[1:]
	if CheckID(id) != nil {
		return "", false
	}
	return id, true
}

// NodeIDOf returns the node id named by cert. It does not verify cert; use
// it on verified certificates only.
func NodeIDOf(cert *x509.Certificate) (string, error) {
	var id string
	n := 0
	for _, u := range cert.URIs {
		if v, ok := parseIDURI(u, nodeHost); ok {
			id = v
			n++
		}
	}
	if n != 1 {
		return "", fmt.Errorf("%w: %d node URIs", ErrNoNodeID, n)
	}
	return id, nil
}

// PeerNodeID returns the node id of the peer of a finished handshake. The
// chain is not verified again: call it only on connections made with this
// package's configurations, which verify the chain and the presence of a
// node id during the handshake.
func PeerNodeID(cs tls.ConnectionState) (string, error) {
	if !cs.HandshakeComplete || len(cs.PeerCertificates) == 0 {
		return "", fmt.Errorf("%w: peer presented no certificate", ErrNoNodeID)
	}
	return NodeIDOf(cs.PeerCertificates[0])
}
