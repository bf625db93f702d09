package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessionraft/sessionraft/transport/resp"
)

const defaultStatusAddrs = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"

func newStatusCmd() *cobra.Command {
	var (
		addrs   []string
		timeout time.Duration
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the raft groups of every node: role, leader, term, indexes",
		Long: `Ask each node TOPOLOGY and INFO over RESP and print, per node and raft group,
its role, the leader it knows, term, commit and applied index, session count
and time since it last heard from its leader.

A node that does not answer is shown as down. The command fails only when no
node answers.`,
		Example: `  sessionraft status
  sessionraft status --addr 10.0.0.1:7001,10.0.0.2:7001 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list := normalizeAddrs(splitList(addrs))
			if len(list) == 0 {
				return errors.New("--addr: no address given")
			}
			sts := queryNodes(cmd.Context(), list, timeout, true)
			anyUp := false
			for _, st := range sts {
				anyUp = anyUp || st.Up
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(sts); err != nil {
					return err
				}
			} else if anyUp {
				printStatus(cmd.OutOrStdout(), sts)
			}
			if anyUp {
				return nil
			}
			for _, st := range sts {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", st.Addr, st.Error)
			}
			return fmt.Errorf("no node answered (tried %s); is the cluster running?", strings.Join(list, ", "))
		},
	}
	fs := cmd.Flags()
	fs.StringSliceVar(&addrs, "addr", []string{defaultStatusAddrs}, "client addresses of the nodes to ask, repeatable or comma-separated (a bare port means 127.0.0.1:port)")
	timeout = 3 * time.Second
	durationVar(fs, &timeout, "timeout", "time limit for each node's answers")
	fs.BoolVar(&asJSON, "json", false, "print JSON instead of tables")
	return cmd
}

// normalizeAddrs turns "7001" and ":7001" into "127.0.0.1:7001".
func normalizeAddrs(in []string) []string {
	out := make([]string, 0, len(in))
	for _, a := range in {
		if _, err := strconv.Atoi(a); err == nil {
			a = "127.0.0.1:" + a
		} else if strings.HasPrefix(a, ":") {
			a = "127.0.0.1" + a
		}
		out = append(out, a)
	}
	return out
}

// nodeStatus is what one node said about itself.
type nodeStatus struct {
	Addr    string      `json:"addr"`
	Up      bool        `json:"up"`
	Error   string      `json:"error,omitempty"`
	Node    string      `json:"node,omitempty"`
	Version string      `json:"version,omitempty"`
	Uptime  string      `json:"uptime,omitempty"`
	Groups  []groupInfo `json:"groups,omitempty"`
}

// queryNodes asks every address in parallel; results keep the order of addrs.
func queryNodes(ctx context.Context, addrs []string, timeout time.Duration, withInfo bool) []nodeStatus {
	return queryNodesWith(ctx, clientConn{}, addrs, timeout, withInfo)
}

// queryNodesWith is queryNodes reaching the nodes as cc says.
func queryNodesWith(ctx context.Context, cc clientConn, addrs []string, timeout time.Duration, withInfo bool) []nodeStatus {
	out := make([]nodeStatus, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = queryNode(ctx, cc, a, timeout, withInfo)
		}()
	}
	wg.Wait()
	// Name nodes that did not answer after what the others know of them.
	ids := map[string]string{}
	for _, st := range out {
		for _, g := range st.Groups {
			for _, m := range g.Members {
				if m.ClientAddr != "" && m.ID != "" {
					ids[m.ClientAddr] = m.ID
				}
			}
		}
	}
	for i := range out {
		if out[i].Node == "" {
			out[i].Node = ids[out[i].Addr]
		}
	}
	return out
}

// queryNode sends PING, TOPOLOGY and (optionally) INFO to one node. A node
// that answers PING is up even if TOPOLOGY fails; Error then says why.
func queryNode(ctx context.Context, cc clientConn, addr string, timeout time.Duration, withInfo bool) nodeStatus {
	st := nodeStatus{Addr: addr}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := cc.dial(ctx, addr)
	if err != nil {
		st.Error = shortErr(err)
		return st
	}
	defer c.Close()
	if _, err := do(ctx, c, "PING"); err != nil {
		st.Error = shortErr(err)
		return st
	}
	st.Up = true
	v, err := do(ctx, c, "TOPOLOGY")
	if err == nil {
		var t topology
		if t, err = parseTopology(v); err == nil {
			st.Node, st.Groups = t.Node, t.Groups
			sort.Slice(st.Groups, func(i, j int) bool { return st.Groups[i].Group < st.Groups[j].Group })
		}
	}
	if err != nil {
		st.Error = shortErr(err)
	}
	if withInfo {
		if v, err := do(ctx, c, "INFO"); err == nil {
			info := parseInfo(v.Str)
			st.Version, st.Uptime = infoVersion(info), infoUptime(info)
			if st.Node == "" {
				st.Node = info["node_id"]
			}
		}
	}
	return st
}

// do sends one command and turns an error reply into a Go error.
func do(ctx context.Context, c *resp.Client, args ...string) (resp.Value, error) {
	v, err := c.Do(ctx, args...)
	if err != nil {
		return v, err
	}
	if e := v.Err(); e != nil {
		return v, e
	}
	return v, nil
}

func shortErr(err error) string {
	var ne *net.OpError
	if errors.As(err, &ne) && ne.Err != nil {
		return ne.Err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return err.Error()
}

// clusterReady reports whether every node answers and every node sees a
// leader for every group; if not, why not.
func clusterReady(sts []nodeStatus) (bool, string) {
	for _, st := range sts {
		name := st.Addr
		if st.Node != "" {
			name = st.Node + " (" + st.Addr + ")"
		}
		switch {
		case !st.Up:
			return false, fmt.Sprintf("%s does not answer: %s", name, st.Error)
		case st.Error != "":
			return false, fmt.Sprintf("%s: %s", name, st.Error)
		case len(st.Groups) == 0:
			return false, fmt.Sprintf("%s has no raft groups yet (waiting for the nodes to find each other and bootstrap)", name)
		}
		for _, g := range st.Groups {
			if g.Leader == "" {
				return false, fmt.Sprintf("%s: group %d has no leader yet", name, g.Group)
			}
		}
	}
	return true, ""
}

func printStatus(w io.Writer, sts []nodeStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDR\tSTATUS\tVERSION\tUPTIME")
	up := 0
	for _, st := range sts {
		state := "up"
		if st.Up {
			up++
			if st.Error != "" {
				state = "up (" + st.Error + ")"
			}
		} else {
			state = "down (" + st.Error + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", dash(st.Node), st.Addr, state, dash(st.Version), dash(st.Uptime))
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tGROUP\tROLE\tLEADER\tTERM\tCOMMIT\tAPPLIED\tSESSIONS\tLAST CONTACT")
	groups := map[int]bool{}
	leaderless := map[int]bool{}
	for _, st := range sts {
		if !st.Up {
			continue // listed as down above
		}
		if len(st.Groups) == 0 {
			fmt.Fprintf(tw, "%s\t-\tno groups yet\t-\t-\t-\t-\t-\t-\n", orStr(st.Node, st.Addr))
			continue
		}
		for _, g := range st.Groups {
			groups[g.Group] = true
			if g.Leader == "" {
				leaderless[g.Group] = true
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", st.Node, g.Group, dash(g.Role), dash(g.Leader),
				g.Term, g.CommitIndex, g.AppliedIndex, g.Sessions, fmtContact(g.LastContactMS))
		}
	}
	tw.Flush()

	fmt.Fprintln(w)
	fmt.Fprintf(w, "%d/%d nodes up, %d raft groups", up, len(sts), len(groups))
	if len(leaderless) == 0 && len(groups) > 0 {
		fmt.Fprintln(w, ", every group has a leader")
		return
	}
	var gs []int
	for g := range leaderless {
		gs = append(gs, g)
	}
	sort.Ints(gs)
	if len(gs) > 0 {
		ids := make([]string, len(gs))
		for i, g := range gs {
			ids[i] = strconv.Itoa(g)
		}
		fmt.Fprintf(w, "; no leader seen for group(s) %s", strings.Join(ids, ", "))
	}
	fmt.Fprintln(w)
}

func fmtContact(ms int64) string {
	switch {
	case ms < 0:
		return "-"
	case ms < 1000:
		return strconv.FormatInt(ms, 10) + "ms"
	default:
		return (time.Duration(ms) * time.Millisecond).Round(100 * time.Millisecond).String()
	}
}

func fmtSeconds(s int64) string {
	return (time.Duration(s) * time.Second).String()
}

func dash(s string) string { return orStr(s, "-") }

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
