package tlsconf

import "crypto/tls"

// HTTPServerConfig returns a configuration for a node's admin HTTP port
// (metrics, health, status page): the node presents its current
// certificate, reloads included, and asks for none in return, since
// Prometheus, load balancers and browsers have no node certificate. Its
// certificate carries the host names it was issued for (IssueNode), which
// is what those clients check.
func (s *Store) HTTPServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12, // scrapers and probes still speak 1.2
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return &s.cur.Load().cert, nil
		},
	}
}
