package testcluster

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"time"

	"github.com/sessionraft/sessionraft/transport/tlsconf"
)

// SecureClientPort prepares a client port with TLS and authentication
// under dir: a CA, a certificate for 127.0.0.1 and an ACL file holding
// aclText. It returns the server flags that turn them on (with
// requirePass as the default user's password) and the TLS config a client
// needs to trust the port.
func SecureClientPort(dir, requirePass, aclText string) (flags []string, tlsConf *tls.Config, err error) {
	ca, err := tlsconf.NewCA("", time.Now().Add(time.Hour))
	if err != nil {
		return nil, nil, err
	}
	kp, err := ca.IssueNode("client-port", []string{"127.0.0.1"}, time.Now().Add(time.Hour))
	if err != nil {
		return nil, nil, err
	}
	cert, key := filepath.Join(dir, "port.pem"), filepath.Join(dir, "port.key")
	if err := kp.Write(cert, key); err != nil {
		return nil, nil, err
	}
	aclFile := filepath.Join(dir, "users.acl")
	if err := os.WriteFile(aclFile, []byte(aclText), 0o600); err != nil {
		return nil, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	flags = []string{"--client-tls-cert", cert, "--client-tls-key", key, "--requirepass", requirePass, "--aclfile", aclFile}
	return flags, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, nil
}
