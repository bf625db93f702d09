package testcluster

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
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

// SecureInternalPort prepares mutual TLS on the internal port and gossip
// encryption for nodes n1..n<nodes> under dir: a cluster CA, a node
// certificate naming each node's id, and one gossip key. It returns each
// node's server flags (Options.NodeFlags), which turn both on.
func SecureInternalPort(dir string, nodes int) (map[string][]string, error) {
	ca, err := tlsconf.NewCA("", time.Now().Add(24*time.Hour))
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(dir, "cluster-ca.pem")
	if err := os.WriteFile(caFile, ca.Pair().CertPEM, 0o644); err != nil {
		return nil, err
	}
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	gossipKey := base64.StdEncoding.EncodeToString(key[:])
	flags := map[string][]string{}
	for i := 1; i <= nodes; i++ {
		id := fmt.Sprintf("n%d", i)
		// Nodes prove their id, not a host name: the hosts are for a
		// client port that shares the certificate.
		kp, err := ca.IssueNode(id, []string{"127.0.0.1"}, time.Now().Add(24*time.Hour))
		if err != nil {
			return nil, err
		}
		cert, keyFile := filepath.Join(dir, id+".pem"), filepath.Join(dir, id+".key")
		if err := kp.Write(cert, keyFile); err != nil {
			return nil, err
		}
		flags[id] = []string{"--tls-ca", caFile, "--tls-cert", cert, "--tls-key", keyFile, "--gossip-key", gossipKey}
	}
	return flags, nil
}
