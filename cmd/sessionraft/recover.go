package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sessionraft/sessionraft/node"
)

// recover: offline recovery of a cluster that lost its majority for good.
func newRecoverCmd() *cobra.Command {
	var (
		dataDir, id string
		peers       []string
	)
	o := newServerOptions() // for the record limits the log is replayed with
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Rewrite a stopped survivor's groups to a new set of voters after losing quorum",
		Long: `When a majority of the servers is lost for good, no group can elect a leader
and MEMBER REMOVE cannot commit. Stop every survivor, run recover on each with
the same --peers (the survivors, id=raft-address), then start them again.

What may be lost or revived:
  - writes the lost servers had committed without this survivor are gone, even
    if a client was told they succeeded;
  - every entry in this survivor's log becomes committed, so a write a client
    was told was INDETERMINATE (or that timed out) may appear applied.
Recover from the survivor with the most recent data when survivors differ.`,
		Example: `  sessionraft recover --data-dir /var/lib/sessionraft --id n2 --peers n2=10.0.0.2:7101`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" || id == "" {
				return errors.New("--data-dir and --id are required")
			}
			var ps []node.RecoverPeer
			for _, p := range splitList(peers) {
				pid, addr, ok := strings.Cut(p, "=")
				if !ok || pid == "" || addr == "" {
					return fmt.Errorf("--peers %q: want id=raft-address", p)
				}
				ps = append(ps, node.RecoverPeer{ID: pid, Addr: addr})
			}
			cfg := o.cfg
			limitsFromFlags(&cfg, o.limits)
			reps, err := node.Recover(dataDir, id, ps, cfg.Limits)
			for _, r := range reps {
				fmt.Fprintf(cmd.OutOrStdout(), "group %d: voters now %s; log kept up to index %d (term %d), all of it committed\n",
					r.Group, strings.Join(splitList(peers), ","), r.LastIndex, r.LastTerm)
			}
			if err != nil {
				return fmt.Errorf("recover: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "recovered. Acknowledged writes this survivor did not have are lost; unacknowledged ones it had are now committed. Start the server; add new servers with member add.")
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&dataDir, "data-dir", "", "the stopped survivor's data directory (required)")
	fs.StringVar(&id, "id", "", "the survivor's server id (required)")
	fs.StringSliceVar(&peers, "peers", nil, "every survivor as id=raft-address, this one included; comma-separated or repeated")
	fs.Int64Var(&o.limits.maxValueBytes, "max-value-bytes", o.limits.maxValueBytes, "the cluster's --max-value-bytes")
	fs.Int64Var(&o.limits.maxRecordBytes, "max-record-bytes", o.limits.maxRecordBytes, "the cluster's --max-record-bytes")
	fs.Int64Var(&o.limits.maxFields, "max-fields", o.limits.maxFields, "the cluster's --max-fields")
	return cmd
}
