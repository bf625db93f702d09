package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sessionraft/sessionraft/node"
)

func newRestoreCmd() *cobra.Command {
	var (
		dataDir string
		id      string
		peers   []string
		groups  int
	)
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Prepare one node's data directory of a new cluster from a backup file",
		Long: `Prepare the data directory of one node of a new cluster from a backup file
(sessionraft backup), as etcd's snapshot restore does. Run it once per node,
with the same FILE and --peers on every node and each node's own --id and
--data-dir; then start every node with "sessionraft server" and the same --id,
--data-dir, --groups and addresses (--advertise-raft as given in --peers).

The file is verified whole first. Every group starts from the backup's state
with the new peers as its voters: nothing of the old cluster's log, terms or
node ids comes along. Sessions whose deadline passed since the backup are
expired by the log clock as soon as each group's new leader commits its first
entry. The data directory must be new (absent or empty).

A backup is refused if its group count differs from --groups: the ring maps
session ids to groups by their count, so the groups cannot be re-mapped.`,
		Example: `  sessionraft restore /backups/sessions.srbak --data-dir /var/lib/sessionraft \
    --id n1 --peers n1=10.0.0.1:7101,n2=10.0.0.2:7101,n3=10.0.0.3:7101`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dataDir == "" || id == "" {
				return errors.New("--data-dir and --id are required")
			}
			ps, err := parsePeers(splitList(peers))
			if err != nil {
				return err
			}
			want := groups
			if want == 0 {
				want = len(ps) // the server's default: --groups 0 is --bootstrap-expect
			}
			vb, err := verifyBackup(args[0])
			if err != nil {
				return err
			}
			m := &vb.Manifest
			if m.Groups != want {
				return fmt.Errorf("the backup holds %d groups but the new cluster has %d (--groups, default the number of peers): sessions map to groups by the group count, so restore into a cluster of %d groups (start the servers with --groups %d)", m.Groups, want, m.Groups, m.Groups)
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			gs := make([]node.RestoreGroup, m.Groups)
			for i, g := range m.Snapshots {
				gs[i] = node.RestoreGroup{Index: g.Index, Data: io.NewSectionReader(f, vb.offsets[i], g.Bytes)}
			}
			if err := node.RestoreDataDir(dataDir, id, ps, gs); err != nil {
				return err
			}
			total := 0
			for _, g := range m.Snapshots {
				total += g.Sessions
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %d groups (%d sessions, backup of %s) into %s for node %s; start it with --groups %d\n",
				m.Groups, total, m.Created.Format("2006-01-02T15:04:05Z"), dataDir, id, m.Groups)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&dataDir, "data-dir", "", "the new node's data directory, absent or empty (required)")
	fs.StringVar(&id, "id", "", "the new node's id, one of --peers (required)")
	fs.StringSliceVar(&peers, "peers", nil, "every node of the new cluster as id=raft-address (its --advertise-raft), comma-separated (required)")
	fs.IntVar(&groups, "groups", 0, "the new cluster's group count (0: the number of peers, as the server's default)")
	return cmd
}

// parsePeers reads "id=addr" pairs.
func parsePeers(in []string) ([]node.RestorePeer, error) {
	if len(in) == 0 {
		return nil, errors.New("--peers: list every node of the new cluster as id=raft-address")
	}
	out := make([]node.RestorePeer, 0, len(in))
	for _, p := range in {
		id, addr, ok := strings.Cut(p, "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("--peers %q: want id=raft-address", p)
		}
		out = append(out, node.RestorePeer{ID: id, RaftAddr: addr})
	}
	return out, nil
}
