package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessionraft/sessionraft/transport/tlsconf"
)

// Certificate files, as `sessionraft certs` writes them: certificates are
// world-readable (0644), keys readable by their owner only (0600).
const (
	caCertFile = "ca.crt"
	caKeyFile  = "ca.key"
)

func newCertsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Make a cluster CA and node and client certificates",
		Long: `Make the certificates of a cluster's mutual TLS (docs/SECURITY.md):

  certs ca      a cluster CA (ca.crt, ca.key); keep ca.key offline
  certs node    a node certificate naming its node id, and the hosts its
                client port is reached at (<id>.crt, <id>.key)
  certs client  a client certificate for an application or operator
                (<name>.crt, <name>.key); it can never pass as a node

Keys are ECDSA P-256, written with mode 0600; certificates with 0644.
Existing files are not overwritten unless --force is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCertsCACmd(), newCertsNodeCmd(), newCertsClientCmd())
	return cmd
}

// certOpts are the flags every certs subcommand shares.
type certOpts struct {
	out   string
	days  int
	force bool
}

func (o *certOpts) addFlags(cmd *cobra.Command, days int) {
	o.days = days
	cmd.Flags().StringVar(&o.out, "out", "", "directory to write the files to (required; created if needed)")
	cmd.Flags().IntVar(&o.days, "days", days, "days the certificate is valid")
	cmd.Flags().BoolVar(&o.force, "force", false, "overwrite existing files")
}

func (o *certOpts) notAfter() (time.Time, error) {
	if o.days < 1 {
		return time.Time{}, fmt.Errorf("--days %d: want at least 1", o.days)
	}
	return time.Now().Add(time.Duration(o.days) * 24 * time.Hour), nil
}

// write stores kp as <out>/<name>.crt and <out>/<name>.key.
func (o *certOpts) write(w io.Writer, kp tlsconf.KeyPair, name string) (certPath, keyPath string, err error) {
	if o.out == "" {
		return "", "", errors.New("--out is required")
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return "", "", err
	}
	certPath, keyPath = filepath.Join(o.out, name+".crt"), filepath.Join(o.out, name+".key")
	if !o.force {
		for _, p := range []string{certPath, keyPath} {
			if _, err := os.Stat(p); err == nil {
				return "", "", fmt.Errorf("%s exists (--force overwrites it)", p)
			}
		}
	}
	if err := kp.Write(certPath, keyPath); err != nil {
		return "", "", err
	}
	fmt.Fprintf(w, "wrote %s\nwrote %s (mode 0600)\n", certPath, keyPath)
	return certPath, keyPath, nil
}

// loadCA reads the CA written by `certs ca` from dir.
func loadCA(dir string) (*tlsconf.Authority, error) {
	if dir == "" {
		return nil, errors.New("--ca-dir is required (the directory of `sessionraft certs ca --out`)")
	}
	c, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if err != nil {
		return nil, err
	}
	k, err := os.ReadFile(filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, err
	}
	return tlsconf.LoadAuthority(c, k)
}

func newCertsCACmd() *cobra.Command {
	var o certOpts
	var name string
	cmd := &cobra.Command{
		Use:     "ca --out DIR",
		Short:   "Make a cluster CA: ca.crt (for every node) and ca.key (keep it offline)",
		Example: `  sessionraft certs ca --out ./pki`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			na, err := o.notAfter()
			if err != nil {
				return err
			}
			ca, err := tlsconf.NewCA(name, na)
			if err != nil {
				return err
			}
			if _, _, err := o.write(cmd.OutOrStdout(), ca.Pair(), "ca"); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\nNext: sessionraft certs node --id n1 --host <address> --ca-dir %s --out <dir>\n", o.out)
			return nil
		},
	}
	o.addFlags(cmd, 3650)
	cmd.Flags().StringVar(&name, "name", "sessionraft cluster CA", "the CA's common name")
	return cmd
}

func newCertsNodeCmd() *cobra.Command {
	var o certOpts
	var id, caDir string
	var hosts []string
	cmd := &cobra.Command{
		Use:   "node --id ID --host HOST... --ca-dir DIR --out DIR",
		Short: "Make a node certificate naming its node id: <id>.crt and <id>.key",
		Long: `Make a node certificate. It names the node id (as the URI SAN
sessionraft://node/<id>), which is what the internal port checks; --host adds
the DNS names and IP addresses clients reach the node's client port at, so the
same certificate can serve client TLS. The node runs with
--tls-ca <ca-dir>/ca.crt --tls-cert <out>/<id>.crt --tls-key <out>/<id>.key.`,
		Example: `  sessionraft certs node --id n1 --host 10.0.0.1 --host node1.example --ca-dir ./pki --out ./pki`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" {
				return errors.New("--id is required")
			}
			ca, err := loadCA(caDir)
			if err != nil {
				return err
			}
			na, err := o.notAfter()
			if err != nil {
				return err
			}
			kp, err := ca.IssueNode(id, splitList(hosts), na)
			if err != nil {
				return err
			}
			c, k, err := o.write(cmd.OutOrStdout(), kp, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\nRun the node with:\n  --id %s --tls-ca %s --tls-cert %s --tls-key %s\n",
				id, filepath.Join(caDir, caCertFile), c, k)
			return nil
		},
	}
	o.addFlags(cmd, 365)
	cmd.Flags().StringVar(&id, "id", "", "the node id (the server's --id; required)")
	cmd.Flags().StringSliceVar(&hosts, "host", nil, "DNS name or IP address of the node; repeatable or comma-separated")
	cmd.Flags().StringVar(&caDir, "ca-dir", "", "directory holding ca.crt and ca.key (required)")
	return cmd
}

func newCertsClientCmd() *cobra.Command {
	var o certOpts
	var name, caDir string
	cmd := &cobra.Command{
		Use:     "client --name NAME --ca-dir DIR --out DIR",
		Short:   "Make a client certificate: <name>.crt and <name>.key",
		Example: `  sessionraft certs client --name app --ca-dir ./pki --out ./pki`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return errors.New("--name is required")
			}
			ca, err := loadCA(caDir)
			if err != nil {
				return err
			}
			na, err := o.notAfter()
			if err != nil {
				return err
			}
			kp, err := ca.IssueClient(name, na)
			if err != nil {
				return err
			}
			_, _, err = o.write(cmd.OutOrStdout(), kp, name)
			return err
		},
	}
	o.addFlags(cmd, 365)
	cmd.Flags().StringVar(&name, "name", "", "the client's name (required)")
	cmd.Flags().StringVar(&caDir, "ca-dir", "", "directory holding ca.crt and ca.key (required)")
	return cmd
}
