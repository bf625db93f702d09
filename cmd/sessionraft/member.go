package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessionraft/sessionraft/transport/resp"
)

// member: the operator's view and control of cluster membership, through
// the MEMBER command on any node's client port.
func newMemberCmd() *cobra.Command {
	var (
		addrs   []string
		timeout time.Duration
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "member",
		Short: "List, add, remove or replace the servers of the cluster",
		Long: `Change which servers hold the cluster's raft groups, through any node.

  member list              every server: suffrage in each group, health, lag
  member add ID            add a server started with --join (and no --bootstrap-expect):
                           it joins every group as a non-voter and is promoted to voter
                           in each once it has caught up and stayed healthy
  member remove ID         move its leaderships away, then remove it from every group;
                           the removed server stops serving
  member replace OLD NEW   add NEW, wait until it votes in every group, remove OLD

Gossip never adds or removes voters: only these commands do.`,
		Example: `  sessionraft member list --addr 127.0.0.1:7001
  sessionraft member add n4 --addr 127.0.0.1:7001
  sessionraft member replace n1 n5 --addr 127.0.0.1:7002`,
	}
	send := func(ctx context.Context, args ...string) (resp.Value, error) {
		list := normalizeAddrs(splitList(addrs))
		if len(list) == 0 {
			return resp.Value{}, errors.New("--addr: no address given")
		}
		var last error
		for _, a := range list {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			v, err := func() (resp.Value, error) {
				defer cancel()
				c, err := resp.Dial(ctx, a)
				if err != nil {
					return resp.Value{}, err
				}
				defer c.Close()
				return c.Do(ctx, args...)
			}()
			if err != nil {
				last = fmt.Errorf("%s: %s", a, shortErr(err))
				continue // unreachable: try the next node
			}
			if e := v.Err(); e != nil {
				return v, fmt.Errorf("%s: %s", a, e.Error())
			}
			return v, nil
		}
		return resp.Value{}, last
	}
	simple := func(use, short string, nargs int, words ...string) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.ExactArgs(nargs),
			RunE: func(c *cobra.Command, args []string) error {
				if _, err := send(c.Context(), append(words, args...)...); err != nil {
					return err
				}
				fmt.Fprintln(c.OutOrStdout(), "OK")
				return nil
			},
		}
	}
	list := &cobra.Command{
		Use: "list", Short: "Show every server: suffrage per group, health, last contact, lag", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v, err := send(c.Context(), "MEMBER", "LIST")
			if err != nil {
				return err
			}
			rows, err := parseMemberList(v)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			printMemberList(c.OutOrStdout(), rows)
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	cmd.AddCommand(list,
		simple("add ID", "Add a gossiped server as a non-voter in every group (promoted once caught up)", 1, "MEMBER", "ADD"),
		simple("remove ID", "Move a server's leaderships away, then remove it from every group", 1, "MEMBER", "REMOVE"),
		simple("replace OLD NEW", "Add NEW, wait until it votes in every group, then remove OLD", 2, "MEMBER", "REPLACE"))
	fs := cmd.PersistentFlags()
	fs.StringSliceVar(&addrs, "addr", []string{defaultStatusAddrs}, "client addresses of nodes to send the command to, tried in order (a bare port means 127.0.0.1:port)")
	timeout = 6 * time.Minute
	durationVar(fs, &timeout, "timeout", "time limit for the command (a replace waits for a promotion)")
	return cmd
}

// serverInfo is one server of MEMBER LIST.
type serverInfo struct {
	ID          string            `json:"id"`
	RaftAddr    string            `json:"raft_addr"`
	ClientAddr  string            `json:"client_addr"`
	Incarnation string            `json:"incarnation"`
	Health      string            `json:"health"`
	Admitted    bool              `json:"admitted"`
	Draining    bool              `json:"draining"`
	Removed     bool              `json:"removed"`
	Groups      []serverGroupInfo `json:"groups"`
}

type serverGroupInfo struct {
	Group         int    `json:"group"`
	Suffrage      string `json:"suffrage"`
	Lag           int64  `json:"lag"`
	LastContactMS int64  `json:"last_contact_ms"`
}

func parseMemberList(v resp.Value) ([]serverInfo, error) {
	if e := v.Err(); e != nil {
		return nil, e
	}
	var out []serverInfo
	for i, mv := range v.Elems {
		m, err := asMap(mv)
		if err != nil {
			return nil, fmt.Errorf("MEMBER LIST: [%d]: %w", i, err)
		}
		mi := serverInfo{ID: asString(m["id"]), RaftAddr: asString(m["raft_addr"]), ClientAddr: asString(m["client_addr"]),
			Incarnation: asString(m["incarnation"]), Health: asString(m["health"]),
			Admitted: asBool(m["admitted"]), Draining: asBool(m["draining"]), Removed: asBool(m["removed"])}
		for j, gv := range m["groups"].Elems {
			g, err := asMap(gv)
			if err != nil {
				return nil, fmt.Errorf("MEMBER LIST: [%d].groups[%d]: %w", i, j, err)
			}
			mi.Groups = append(mi.Groups, serverGroupInfo{Group: int(asInt(g["group"])), Suffrage: asString(g["suffrage"]),
				Lag: asInt(g["lag"]), LastContactMS: asInt(g["last_contact_ms"])})
		}
		out = append(out, mi)
	}
	return out, nil
}

func printMemberList(w io.Writer, rows []serverInfo) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tHEALTH\tSTATE\tSUFFRAGE (per group)\tLAG\tLAST CONTACT\tRAFT ADDR\tINCARNATION")
	for _, m := range rows {
		state := "member"
		switch {
		case m.Removed:
			state = "removed"
		case m.Draining:
			state = "draining"
		case !m.Admitted:
			state = "not admitted"
		}
		var suf, lag, lc []string
		for _, g := range m.Groups {
			suf = append(suf, fmt.Sprintf("g%d:%s", g.Group, g.Suffrage))
			if g.Lag < 0 {
				lag = append(lag, "?")
			} else {
				lag = append(lag, fmt.Sprint(g.Lag))
			}
			lc = append(lc, fmtContact(g.LastContactMS))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.Health, state, strings.Join(suf, " "),
			strings.Join(lag, "/"), strings.Join(lc, "/"), m.RaftAddr, m.Incarnation)
	}
	tw.Flush()
}
