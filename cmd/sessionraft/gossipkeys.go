package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessionraft/sessionraft/node"
	"github.com/sessionraft/sessionraft/transport/resp"
)

func newGossipKeysCmd() *cobra.Command {
	var (
		addrs   []string
		timeout = 5 * time.Second
		auth    clientAuth // TLS and credentials (clientauth.go)
	)
	cmd := &cobra.Command{
		Use:   "gossip-keys generate | list | install KEY | use KEY | remove KEY",
		Short: "Generate gossip keys, and list or rotate them on every member",
		Long: `Gossip is encrypted with the keys of each node's keyring (--gossip-key,
--gossip-keyring-file). A rotation is three steps, each run on every member
before the next:

  sessionraft gossip-keys generate          prints a new random key
  sessionraft gossip-keys install NEWKEY    every node accepts NEWKEY
  sessionraft gossip-keys use NEWKEY        every node sends with NEWKEY
  sessionraft gossip-keys remove OLDKEY     every node forgets OLDKEY

Each step asks the nodes at --addr for TOPOLOGY, then sends GOSSIP.KEYS to
every member found (an admin command). It fails if a member did not take the
step: do not go on to the next step until it has (a node that is down takes
the keys from its keyring file when it comes back, so run the step again
then). KEY "-" reads the key from standard input, out of the shell history.`,
		Example: `  sessionraft gossip-keys install $(sessionraft gossip-keys generate) --addr 10.0.0.1:7001
  sessionraft gossip-keys list --addr 7001 --tls-ca pki/ca.crt --pass "$PASSWORD"`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			op := strings.ToLower(args[0])
			out := cmd.OutOrStdout()
			switch op {
			case "generate":
				if len(args) != 1 {
					return errors.New("generate takes no argument")
				}
				k, err := node.GenerateGossipKey()
				if err != nil {
					return err
				}
				fmt.Fprintln(out, k)
				return nil
			case "list":
				if len(args) != 1 {
					return errors.New("list takes no argument")
				}
			case "install", "use", "remove":
				if len(args) != 2 {
					return fmt.Errorf("%s needs the key", op)
				}
				if args[1] == "-" {
					k, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
					if err != nil && (err != io.EOF || k == "") {
						return fmt.Errorf("reading the key from stdin: %w", err)
					}
					args[1] = strings.TrimSpace(k)
				}
				if _, err := node.DecodeGossipKey(args[1]); err != nil {
					return err
				}
			default:
				return fmt.Errorf("unknown step %q: want generate, list, install, use or remove", args[0])
			}
			if err := auth.fromEnv(cmd.Flags(), os.LookupEnv); err != nil {
				return err
			}
			cc, err := auth.dialer()
			if err != nil {
				return err
			}
			list := normalizeAddrs(splitList(addrs))
			if len(list) == 0 {
				return errors.New("--addr: no address given")
			}
			return runGossipKeys(cmd.Context(), out, cc, list, timeout, append([]string{"GOSSIP.KEYS", strings.ToUpper(op)}, args[1:]...))
		},
	}
	fs := cmd.Flags()
	fs.StringSliceVar(&addrs, "addr", []string{defaultStatusAddrs}, "client address of one or more members, repeatable or comma-separated; every member their TOPOLOGY names is reached")
	durationVar(fs, &timeout, "timeout", "time limit for each node")
	auth.addFlags(fs)
	return cmd
}

// memberTarget is one member to run the step on.
type memberTarget struct{ id, addr string }

// runGossipKeys sends command to every member the nodes at addrs know of.
func runGossipKeys(ctx context.Context, out io.Writer, cc dialer, addrs []string, timeout time.Duration, command []string) error {
	targets := map[string]memberTarget{} // by client address
	for _, st := range queryNodesAs(ctx, cc, addrs, timeout, false) {
		if st.Up {
			targets[st.Addr] = memberTarget{id: st.Node, addr: st.Addr}
		}
		for _, g := range st.Groups {
			for _, m := range g.Members {
				if m.ClientAddr != "" {
					targets[m.ClientAddr] = memberTarget{id: m.ID, addr: m.ClientAddr}
				}
			}
		}
	}
	if len(targets) == 0 {
		return fmt.Errorf("no node answered (tried %s)", strings.Join(addrs, ", "))
	}
	list := make([]memberTarget, 0, len(targets))
	for _, t := range targets {
		list = append(list, t)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].id+list[i].addr < list[j].id+list[j].addr })

	replies := make([]string, len(list))
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, t := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i], errs[i] = gossipKeysOn(ctx, cc, t.addr, timeout, command)
		}()
	}
	wg.Wait()
	failed := 0
	for i, t := range list {
		name := t.id
		if name == "" {
			name = "?"
		}
		if errs[i] != nil {
			failed++
			fmt.Fprintf(out, "%s (%s): FAILED: %v\n", name, t.addr, errs[i])
		} else {
			fmt.Fprintf(out, "%s (%s): %s\n", name, t.addr, replies[i])
		}
	}
	if failed > 0 {
		return fmt.Errorf("%s: %d of %d members did not take the step; run it again before the next one", strings.ToLower(command[1]), failed, len(list))
	}
	return nil
}

// gossipKeysOn runs command on one node and describes its reply.
func gossipKeysOn(ctx context.Context, cc dialer, addr string, timeout time.Duration, command []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := cc.dial(ctx, addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	v, err := c.Do(ctx, command...)
	if err != nil {
		return "", err
	}
	if v.Kind == resp.Array {
		keys := make([]string, len(v.Elems))
		for i, e := range v.Elems {
			keys[i] = e.Str
		}
		if len(keys) == 0 {
			return "no keys", nil
		}
		return "primary " + keys[0] + strings.Join(append([]string{""}, keys[1:]...), ", also "), nil
	}
	return v.Str, nil
}
