package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/sessionraft/sessionraft/node"
	"github.com/sessionraft/sessionraft/transport/tlsconf"
)

// The server's client port security flags: TLS on the client port and
// authentication (requirepass, an ACL file), and what SIGHUP reloads.

func (o *serverOptions) addSecurityFlags(fs *pflag.FlagSet) {
	c := &o.cfg
	fs.StringVar(&o.clientTLS.Cert, "client-tls-cert", "", "serve the client port over TLS (1.2+) with this PEM certificate (reloaded on SIGHUP); needs --client-tls-key")
	fs.StringVar(&o.clientTLS.Key, "client-tls-key", "", "PEM private key of --client-tls-cert")
	fs.StringVar(&o.clientTLS.CA, "client-tls-ca", "", "PEM CA bundle: require client certificates on the client port that chain to it")
	fs.StringVar(&c.RequirePass, "requirepass", "", "password of the default user, as Redis's requirepass; clients then need AUTH (prefer the environment variable: flags show in ps)")
	fs.StringVar(&c.ACLFile, "aclfile", "", "ACL file in Redis's syntax (user <name> on >pass ~keys +@category ...); reloaded by ACL LOAD and SIGHUP")
}

// securityConfig loads the client port's TLS files into cfg and notes
// them for SIGHUP.
func (o *serverOptions) securityConfig(cfg *node.Config) error {
	f := o.clientTLS
	if f.Cert == "" && f.Key == "" && f.CA == "" {
		return nil
	}
	if f.Cert == "" || f.Key == "" {
		return fmt.Errorf("--client-tls-cert and --client-tls-key go together (--client-tls-ca needs both)")
	}
	port, err := tlsconf.LoadClientPort(f)
	if err != nil {
		return fmt.Errorf("client port TLS: %w", err)
	}
	cfg.ClientTLS = port.ServerConfig()
	o.reloads = append(o.reloads, reloadable{"client port TLS " + f.Cert, port.Reload})
	return nil
}

// reloadable is one thing SIGHUP reloads.
type reloadable struct {
	what   string
	reload func() error
}

// reloadAll reloads each item; one that fails keeps its previous state
// and is logged, the others still reload.
func reloadAll(log *slog.Logger, items []reloadable) {
	if len(items) == 0 {
		log.Info("SIGHUP: nothing to reload")
	}
	for _, it := range items {
		if err := it.reload(); err != nil {
			log.Error("SIGHUP: reload failed; the previous one stays in use", "what", it.what, "err", err)
			continue
		}
		log.Info("SIGHUP: reloaded", "what", it.what)
	}
}
