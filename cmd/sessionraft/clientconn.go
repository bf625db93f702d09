package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"

	"github.com/spf13/pflag"

	"github.com/sessionraft/sessionraft/transport/resp"
)

// clientConn says how the CLI's commands reach a node's client port: in
// plaintext, or over TLS, and with AUTH when a password is set.
type clientConn struct {
	tls      *tls.Config // nil: plaintext
	user     string
	password string
}

// clientFlags are the flags that fill a clientConn, named as redis-cli
// names them.
type clientFlags struct {
	tls               bool
	caCert, cert, key string
	user, password    string
}

func (f *clientFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&f.tls, "tls", false, "connect to the client ports over TLS")
	fs.StringVar(&f.caCert, "cacert", "", "PEM CA bundle that signed the nodes' certificates (with --tls)")
	fs.StringVar(&f.cert, "cert", "", "PEM client certificate, when the nodes require one (with --tls)")
	fs.StringVar(&f.key, "key", "", "PEM key of --cert")
	fs.StringVar(&f.user, "user", "", "ACL user to AUTH as (default: the default user)")
	fs.StringVarP(&f.password, "pass", "a", "", "password to AUTH with; better set as SESSIONRAFT_PASSWORD")
}

// conn builds the clientConn the flags describe.
func (f *clientFlags) conn() (clientConn, error) {
	cc := clientConn{user: f.user, password: f.password}
	if cc.password == "" {
		cc.password = os.Getenv("SESSIONRAFT_PASSWORD")
	}
	if !f.tls {
		if f.caCert != "" || f.cert != "" {
			return cc, fmt.Errorf("--cacert and --cert need --tls")
		}
		return cc, nil
	}
	cfg, err := clientTLSConfig(f.caCert, f.cert, f.key)
	if err != nil {
		return cc, err
	}
	cc.tls = cfg
	return cc, nil
}

// clientTLSConfig is a TLS client configuration trusting the CA bundle in
// caFile (the system roots when empty), presenting certFile/keyFile if set.
func clientTLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("%s: no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg, nil
}

// dial connects to addr and authenticates.
func (cc clientConn) dial(ctx context.Context, addr string) (*resp.Client, error) {
	var c *resp.Client
	if cc.tls == nil {
		var err error
		if c, err = resp.Dial(ctx, addr); err != nil {
			return nil, err
		}
	} else {
		cfg := cc.tls.Clone()
		if host, _, err := net.SplitHostPort(addr); err == nil && cfg.ServerName == "" {
			cfg.ServerName = host
		}
		d := tls.Dialer{Config: cfg}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		c = resp.NewClient(conn)
	}
	if cc.password != "" {
		args := []string{"AUTH", cc.password}
		if cc.user != "" {
			args = []string{"AUTH", cc.user, cc.password}
		}
		if _, err := c.Do(ctx, args...); err != nil {
			c.Close()
			return nil, fmt.Errorf("AUTH: %w", err)
		}
	}
	return c, nil
}
