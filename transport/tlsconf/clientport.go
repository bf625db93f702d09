package tlsconf

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// ClientPort is the TLS identity of a node's client (RESP) port, reloadable
// while in use like Store, but for Redis clients rather than cluster
// members: TLS 1.2 or later (what redis-cli and client libraries speak),
// the certificate need not name a node nor chain to the cluster CA, and
// client certificates are required only when a CA bundle is given (then
// one must chain to it; no identity is read from it: users authenticate
// with AUTH). Safe for concurrent use.
type ClientPort struct {
	files Files // CA optional

	reload sync.Mutex
	cur    atomic.Pointer[tls.Config]
}

// LoadClientPort reads files: Cert and Key are required, CA is optional.
func LoadClientPort(files Files) (*ClientPort, error) {
	if files.Cert == "" || files.Key == "" {
		return nil, fmt.Errorf("%w: the client port needs a certificate and its key", ErrBadFile)
	}
	p := &ClientPort{files: files}
	if err := p.Reload(); err != nil {
		return nil, err
	}
	return p, nil
}

// Reload re-reads the files. On success new handshakes use them; on error
// the previous ones stay in use. Established connections are unaffected.
func (p *ClientPort) Reload() error {
	p.reload.Lock()
	defer p.reload.Unlock()
	certPEM, err := os.ReadFile(p.files.Cert)
	if err != nil {
		return fmt.Errorf("%w: client port certificate: %w", ErrBadFile, err)
	}
	keyPEM, err := os.ReadFile(p.files.Key)
	if err != nil {
		return fmt.Errorf("%w: client port key: %w", ErrBadFile, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("%w: %s / %s: %w", ErrBadFile, p.files.Cert, p.files.Key, err)
	}
	c := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
	if p.files.CA != "" {
		caPEM, err := os.ReadFile(p.files.CA)
		if err != nil {
			return fmt.Errorf("%w: client CA: %w", ErrBadFile, err)
		}
		if c.ClientCAs, err = parseCertBundle(caPEM); err != nil {
			return fmt.Errorf("%w: client CA %s: %w", ErrBadFile, p.files.CA, err)
		}
		c.ClientAuth = tls.RequireAndVerifyClientCert
		// A resumed session would skip verifying the client against the
		// CA bundle current at the handshake.
		c.SessionTicketsDisabled = true
	}
	p.cur.Store(c)
	return nil
}

// ServerConfig returns the client port's configuration; one config serves
// every later reload.
func (p *ClientPort) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return p.cur.Load(), nil
		},
	}
}
