package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Files names the PEM files of a node's identity.
type Files struct {
	// CA is the bundle of trusted CA certificates (several during a CA
	// rotation).
	CA string
	// Cert is this node's certificate, optionally followed by intermediate
	// CA certificates.
	Cert string
	// Key is the private key of Cert (PKCS#8, PKCS#1 or SEC 1).
	Key string
}

// Store is a node's TLS identity, reloadable while in use. The configs it
// returns read the current material at every handshake. Safe for
// concurrent use.
type Store struct {
	files  Files
	nodeID string // fixed at Load; "" for a client certificate

	reload sync.Mutex // serialises Reload
	cur    atomic.Pointer[material]
}

// material is one consistent, validated generation of the files.
type material struct {
	cert   tls.Certificate // Leaf set
	roots  *x509.CertPool
	server *tls.Config // built once per generation
}

// Load reads and validates files. The certificate must chain to the CA
// bundle and be valid now. Its node id (NodeID) is fixed for the life of
// the Store; a certificate without one (a client certificate) can still
// dial with ClientConfig but cannot serve.
func Load(files Files) (*Store, error) {
	m, err := loadMaterial(files)
	if err != nil {
		return nil, err
	}
	s := &Store{files: files}
	s.nodeID, _ = NodeIDOf(m.cert.Leaf)
	m.server = s.buildServerConfig(m)
	s.cur.Store(m)
	return s, nil
}

// Reload re-reads the files. On success new handshakes use them; on error
// the previous material stays in use and the error says what was wrong.
// Established connections are never affected.
func (s *Store) Reload() error {
	s.reload.Lock()
	defer s.reload.Unlock()
	m, err := loadMaterial(s.files)
	if err != nil {
		return err
	}
	id, _ := NodeIDOf(m.cert.Leaf)
	if id != s.nodeID {
		return fmt.Errorf("%w: reloaded certificate names node %q, this store serves %q (an id change needs a restart)", ErrWrongNodeID, id, s.nodeID)
	}
	m.server = s.buildServerConfig(m)
	s.cur.Store(m)
	return nil
}

// NodeID is the node id of the loaded certificate, "" if it names none.
func (s *Store) NodeID() string { return s.nodeID }

// Certificate returns the leaf certificate currently presented.
func (s *Store) Certificate() *x509.Certificate { return s.cur.Load().cert.Leaf }

// ServerConfig returns the internal port's server configuration: TLS 1.3
// only, a client certificate chaining to the CA and naming a node id is
// mandatory. One config serves every later reload.
func (s *Store) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		SessionTicketsDisabled: true,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.cur.Load().server, nil
		},
	}
}

func (s *Store) buildServerConfig(m *material) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{m.cert},
		ClientAuth:             tls.RequireAndVerifyClientCert,
		ClientCAs:              m.roots,
		SessionTicketsDisabled: true,
		// The chain was verified by crypto/tls (ClientCAs, client auth
		// usage); a client certificate must also name a node.
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: client presented no certificate", ErrNoNodeID)
			}
			_, err := NodeIDOf(cs.PeerCertificates[0])
			return err
		},
	}
}

// ClientConfig returns a configuration for dialing a node: TLS 1.3 only,
// presenting this store's certificate. The server's certificate must chain
// to the CA and name a node id, which must equal serverID unless serverID
// is empty (the caller does not know whom it reaches). Host names are not
// checked: the node id is the identity.
func (s *Store) ClientConfig(serverID string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The default verification checks the host name, which is not our
		// identity; VerifyConnection does the full chain verification
		// against the current CA pool plus the node id check instead.
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &s.cur.Load().cert, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			return s.verifyServer(cs, serverID)
		},
	}
}

// PeerID returns the node id of a connection's verified peer; see
// PeerNodeID.
func (s *Store) PeerID(cs tls.ConnectionState) (string, error) { return PeerNodeID(cs) }

func (s *Store) verifyServer(cs tls.ConnectionState, serverID string) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: server presented no certificate", ErrUntrusted)
	}
	m := s.cur.Load()
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	leaf := cs.PeerCertificates[0]
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         m.roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	id, err := NodeIDOf(leaf)
	if err != nil {
		return err
	}
	if serverID != "" && id != serverID {
		return fmt.Errorf("%w: reached node %q, expected %q", ErrWrongNodeID, id, serverID)
	}
	return nil
}

// loadMaterial reads and cross-checks the three files.
func loadMaterial(f Files) (*material, error) {
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("%w: CA: %w", ErrBadFile, err)
	}
	roots, err := parseCertBundle(caPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: CA %s: %w", ErrBadFile, f.CA, err)
	}
	certPEM, err := os.ReadFile(f.Cert)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %w", ErrBadFile, err)
	}
	keyPEM, err := os.ReadFile(f.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: key: %w", ErrBadFile, err)
	}
	// X509KeyPair checks that the key matches the certificate and sets Leaf.
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %s / %s: %w", ErrBadFile, f.Cert, f.Key, err)
	}
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadFile, f.Cert, err)
		}
		inter.AddCert(c)
	}
	// A certificate peers would refuse is not worth switching to.
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		CurrentTime:   time.Now(),
	}); err != nil {
		return nil, fmt.Errorf("%w: %s against CA %s: %w", ErrUntrusted, f.Cert, f.CA, err)
	}
	return &material{cert: cert, roots: roots}, nil
}

// parseCertBundle parses every CERTIFICATE block; it needs at least one.
func parseCertBundle(b []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		if !c.IsCA {
			return nil, fmt.Errorf("certificate %q is not a CA", c.Subject.CommonName)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("no PEM certificate found")
	}
	return pool, nil
}
