package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sessionraft/sessionraft/node"
	"github.com/sessionraft/sessionraft/transport/tlsconf"
)

// devSecurity is what `dev --secure` makes under <data-dir>/secure and
// hands to the nodes: a CA, a certificate per node (serving both the
// internal port and the client port), a client certificate, a gossip key
// and the default user's password. The files are kept across runs, like
// the data (--fresh makes new ones), so the password printed stays valid.
type devSecurity struct {
	dir       string
	gossipKey string
	password  string
}

// devSecureDir is where dev --secure keeps its files, under --data-dir.
const devSecureDir = "secure"

// devClientName is the client certificate dev --secure makes.
const devClientName = "client"

// prepareDevSecurity makes (or, from an earlier run, reuses) the files.
func prepareDevSecurity(dataDir string, nodes []*devNode) (*devSecurity, error) {
	s := &devSecurity{dir: filepath.Join(dataDir, devSecureDir)}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	ca, err := s.authority()
	if err != nil {
		return nil, err
	}
	notAfter := time.Now().Add(365 * 24 * time.Hour)
	for _, n := range nodes {
		if s.exists(n.id + ".crt") {
			continue
		}
		kp, err := ca.IssueNode(n.id, []string{"127.0.0.1", "localhost"}, notAfter)
		if err != nil {
			return nil, err
		}
		if err := kp.Write(s.path(n.id+".crt"), s.path(n.id+".key")); err != nil {
			return nil, err
		}
	}
	if !s.exists(devClientName + ".crt") {
		kp, err := ca.IssueClient(devClientName, notAfter)
		if err != nil {
			return nil, err
		}
		if err := kp.Write(s.path(devClientName+".crt"), s.path(devClientName+".key")); err != nil {
			return nil, err
		}
	}
	if s.gossipKey, err = s.secret("gossip.key", node.GenerateGossipKey); err != nil {
		return nil, err
	}
	if s.password, err = s.secret("password", randomPassword); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *devSecurity) path(name string) string { return filepath.Join(s.dir, name) }

func (s *devSecurity) exists(name string) bool {
	_, err := os.Stat(s.path(name))
	return err == nil
}

// authority loads the dev CA, or makes it.
func (s *devSecurity) authority() (*tlsconf.Authority, error) {
	if s.exists(caCertFile) {
		return loadCA(s.dir)
	}
	ca, err := tlsconf.NewCA("sessionraft dev CA", time.Now().Add(10*365*24*time.Hour))
	if err != nil {
		return nil, err
	}
	if err := ca.Pair().Write(s.path(caCertFile), s.path(caKeyFile)); err != nil {
		return nil, err
	}
	return ca, nil
}

// secret reads a one-line secret file, or makes it with gen (mode 0600).
func (s *devSecurity) secret(name string, gen func() (string, error)) (string, error) {
	b, err := os.ReadFile(s.path(name))
	if err == nil {
		if v := strings.TrimSpace(string(b)); v != "" {
			return v, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	v, err := gen()
	if err != nil {
		return "", err
	}
	return v, os.WriteFile(s.path(name), []byte(v+"\n"), 0o600)
}

// randomPassword is 24 random bytes, URL-safe base64 (no shell quoting
// needed).
func randomPassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// serverArgs are the flags that secure node n: mutual TLS on the internal
// port, TLS and a password on the client port (gossip encryption: env).
// Clients are not asked for certificates (no --client-tls-ca): the
// password authenticates them, as with redis-cli --tls --cacert ... -a.
func (s *devSecurity) serverArgs(n *devNode) []string {
	return []string{
		"--tls-ca", s.path(caCertFile),
		"--tls-cert", s.path(n.id + ".crt"),
		"--tls-key", s.path(n.id + ".key"),
		"--client-tls-cert", s.path(n.id + ".crt"),
		"--client-tls-key", s.path(n.id + ".key"),
		"--requirepass", s.password,
	}
}

// env is what secure nodes get in their environment: the gossip key, out
// of sight of ps (the server reads SESSIONRAFT_GOSSIP_KEY as --gossip-key).
func (s *devSecurity) env() []string {
	return []string{"SESSIONRAFT_GOSSIP_KEY=" + s.gossipKey}
}

// clientConn is how dev itself (and the printed commands) reach the nodes.
func (s *devSecurity) clientConn() (dialer, error) {
	a := clientAuth{ca: s.path(caCertFile), password: s.password}
	return a.dialer()
}

// redisCLI is the command line that connects to the node on port.
func (s *devSecurity) redisCLI(port string) string {
	return fmt.Sprintf("redis-cli --tls --cacert %s -p %s -a %s", s.path(caCertFile), port, s.password)
}
