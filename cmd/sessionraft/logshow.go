package main

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sessionraft/sessionraft/node"
)

// maxDump bounds the hex dump of an entry that does not decode, unless
// --full is given.
const maxDump = 4096

func newLogCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Inspect a stopped node's raft log",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newLogShowCmd())
	return cmd
}

func newLogShowCmd() *cobra.Command {
	var (
		dataDir string
		group   int
		index   uint64
		secrets bool
		full    bool
	)
	cmd := &cobra.Command{
		Use:   "show --data-dir DIR --group G --index I",
		Short: "Describe one raft log entry of a stopped node",
		Long: `Read one entry of a raft group's log from a node's data directory and describe
it: its term, type and, for a command batch, every command in it. The node must
be stopped (its log is locked while it runs).

This is the tool for a node that stopped with exit status 3, "a raft log entry
cannot be applied": the node's log names the group and index. An entry that
does not decode is shown as a hex dump (the first 4096 bytes unless --full).

Session ids, subjects and request ids are shortened and field values shown by
size only, as in the logs; --secrets shows them in full.

docs/SECURITY.md ("A log entry a node cannot apply") says how to get the node
going again.`,
		Example: `  sessionraft log show --data-dir /var/lib/sessionraft --group 2 --index 1841`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" {
				return errors.New("--data-dir is required")
			}
			if group < 0 {
				return errors.New("--group must be >= 0")
			}
			e, err := node.ReadLogEntry(dataDir, group, index)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if derr := e.Describe(out, secrets); derr != nil {
				data := e.Data
				if !full && len(data) > maxDump {
					data = data[:maxDump]
				}
				if len(data) > 0 {
					fmt.Fprintf(out, "raw bytes (%d of %d):\n%s", len(data), len(e.Data), hex.Dump(data))
				}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&dataDir, "data-dir", "", "the node's data directory (required)")
	fs.IntVar(&group, "group", 0, "raft group")
	fs.Uint64Var(&index, "index", 0, "log index")
	fs.BoolVar(&secrets, "secrets", false, "show session ids, subjects, request ids and field values in full")
	fs.BoolVar(&full, "full", false, "hex-dump all of an undecodable entry, not only its first 4096 bytes")
	return cmd
}
