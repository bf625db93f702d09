package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		return exitStatus(err)
	}
	return 0
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "sessionraft",
		Short: "A Raft-replicated distributed session store",
		Long: `sessionraft is a distributed session store replicated with Raft. Clients speak
RESP (redis-cli works); every node accepts every command.

Start a local three-node cluster with "sessionraft dev", run one node of a real
cluster with "sessionraft server", and look at a cluster with "sessionraft status".`,
		SilenceUsage:  true,
		SilenceErrors: false,
		// Without subcommand, print help.
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())
	})
	root.AddCommand(newServerCmd(), newDevCmd(), newStatusCmd(), newBenchCmd(), newBackupCmd(), newRestoreCmd())
	root.AddCommand(newMemberCmd(), newRecoverCmd())
	root.AddCommand(newCertsCmd(), newGossipKeysCmd(), newLogCmd()) // security: certs.go, gossipkeys.go, logshow.go
	return root
}
