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

// clientAuth is how the client commands (status, bench) reach a secured
// cluster: TLS on the client port and credentials, from flags or, for any
// flag not given, the environment ($SESSIONRAFT_TLS_CA, ...,
// $SESSIONRAFT_PASS: a password there stays out of ps).
type clientAuth struct {
	tls      bool
	ca       string
	cert     string
	key      string
	user     string
	password string
}

// clientAuthEnv names the environment variable of each flag.
var clientAuthEnv = map[string]string{
	"tls": "SESSIONRAFT_TLS", "tls-ca": "SESSIONRAFT_TLS_CA", "tls-cert": "SESSIONRAFT_TLS_CERT",
	"tls-key": "SESSIONRAFT_TLS_KEY", "user": "SESSIONRAFT_USER", "pass": "SESSIONRAFT_PASS",
}

func (a *clientAuth) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&a.tls, "tls", false, "connect over TLS, trusting the system's CAs unless --tls-ca is given (implied by --tls-ca and --tls-cert) [$SESSIONRAFT_TLS]")
	fs.StringVar(&a.ca, "tls-ca", "", "PEM CA bundle that signed the nodes' client port certificates [$SESSIONRAFT_TLS_CA]")
	fs.StringVar(&a.cert, "tls-cert", "", "PEM client certificate, for nodes that require one (with --tls-key) [$SESSIONRAFT_TLS_CERT]")
	fs.StringVar(&a.key, "tls-key", "", "PEM private key of --tls-cert [$SESSIONRAFT_TLS_KEY]")
	fs.StringVar(&a.user, "user", "", "ACL user name (default: the default user) [$SESSIONRAFT_USER]")
	fs.StringVar(&a.password, "pass", "", "password of --user, or --requirepass's [$SESSIONRAFT_PASS]")
}

// fromEnv fills every flag the command line did not set from its
// environment variable.
func (a *clientAuth) fromEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	for name, env := range clientAuthEnv {
		f := fs.Lookup(name)
		if f == nil || f.Changed {
			continue
		}
		if v, ok := lookup(env); ok && v != "" {
			if err := f.Value.Set(v); err != nil {
				return fmt.Errorf("$%s: %w", env, err)
			}
		}
	}
	return nil
}

// tlsConfig is the TLS configuration the flags ask for, nil for none.
func (a *clientAuth) tlsConfig() (*tls.Config, error) {
	if !a.tls && a.ca == "" && a.cert == "" && a.key == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if a.ca != "" {
		pem, err := os.ReadFile(a.ca)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate", a.ca)
		}
	}
	if (a.cert == "") != (a.key == "") {
		return nil, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if a.cert != "" {
		kp, err := tls.LoadX509KeyPair(a.cert, a.key)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		c.Certificates = []tls.Certificate{kp}
	}
	return c, nil
}

// dialer connects and authenticates raw RESP connections (status).
type dialer struct {
	tls                *tls.Config // nil: plaintext
	username, password string
}

func (a *clientAuth) dialer() (dialer, error) {
	t, err := a.tlsConfig()
	return dialer{tls: t, username: a.user, password: a.password}, err
}

// dial connects to addr and, with a password, authenticates (as Redis
// clients do: AUTH [user] pass).
func (d dialer) dial(ctx context.Context, addr string) (*resp.Client, error) {
	var (
		nc  net.Conn
		err error
	)
	if d.tls != nil {
		td := tls.Dialer{Config: d.tls}
		nc, err = td.DialContext(ctx, "tcp", addr)
	} else {
		var nd net.Dialer
		nc, err = nd.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	c := resp.NewClient(nc)
	if d.password != "" {
		args := []string{"AUTH", d.password}
		if d.username != "" {
			args = []string{"AUTH", d.username, d.password}
		}
		if _, err := do(ctx, c, args...); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}
