package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// backupChunk is how much one BACKUP.READ asks for: below the RESP
// client's 8 MiB bulk limit and the server's 4 MiB chunk bound.
const backupChunk = 4 << 20

func newBackupCmd() *cobra.Command {
	var (
		addrs   []string
		out     string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Take an online backup of every raft group into one file",
		Long: `Take an online backup of a running cluster: for every raft group, ask its
leader for a snapshot taken after a linearizable barrier (BACKUP.OPEN), read it
over the client port (BACKUP.READ) and write all of them, with a manifest and
checksums, to --out. The backup holds every write acknowledged before the
command started, and possibly later ones: each group is taken at its own index.

The file is written next to --out and renamed into place once complete and
synced; a failed backup leaves no file at --out. "sessionraft backup verify
FILE" checks a file; "sessionraft restore" seeds a new cluster from one.`,
		Example: `  sessionraft backup --addr 10.0.0.1:7001,10.0.0.2:7001 --out /backups/sessions-$(date +%F).srbak
  sessionraft backup verify /backups/sessions-2026-12-03.srbak`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list := normalizeAddrs(splitList(addrs))
			if len(list) == 0 {
				return errors.New("--addr: no address given")
			}
			if out == "" {
				return errors.New("--out: the backup file to write is required")
			}
			m, err := takeBackup(cmd.Context(), list, out, timeout)
			if err != nil {
				return err
			}
			total := 0
			for _, g := range m.Snapshots {
				total += g.Sessions
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup of %d groups, %d sessions written to %s\n", m.Groups, total, out)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringSliceVar(&addrs, "addr", []string{defaultStatusAddrs}, "client addresses of some of the nodes, repeatable or comma-separated (a bare port means 127.0.0.1:port)")
	fs.StringVarP(&out, "out", "o", "", "backup file to write (required)")
	timeout = 2 * time.Minute
	durationVar(fs, &timeout, "timeout", "time limit for each group's backup (leader changes are followed within it)")
	cmd.AddCommand(&cobra.Command{
		Use:   "verify FILE",
		Short: "Check a backup file whole: manifest, checksums, and that every group's snapshot decodes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vb, err := verifyBackup(args[0])
			if err != nil {
				return err
			}
			printManifest(cmd.OutOrStdout(), &vb.Manifest)
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK\n", args[0])
			return nil
		},
	})
	return cmd
}

func printManifest(w io.Writer, m *backupManifest) {
	fmt.Fprintf(w, "format %d, created %s, %d groups, ring %d vnodes %s\n",
		m.Format, m.Created.Format(time.RFC3339), m.Groups, m.Ring.VNodes, m.Ring.Hash)
	for _, g := range m.Snapshots {
		fmt.Fprintf(w, "group %d: index %d term %d, %d sessions, %d bytes, sha256 %s\n",
			g.Group, g.Index, g.Term, g.Sessions, g.Bytes, g.SHA256)
	}
}

// backupClient reaches the nodes of one cluster, one connection per
// client address, and follows group leaders through TOPOLOGY.
type backupClient struct {
	seeds []string
	conns map[string]*resp.Client
}

func (b *backupClient) close() {
	for _, c := range b.conns {
		c.Close()
	}
}

func (b *backupClient) do(ctx context.Context, addr string, args ...string) (resp.Value, error) {
	c := b.conns[addr]
	if c == nil {
		var err error
		if c, err = resp.Dial(ctx, addr); err != nil {
			return resp.Value{}, err
		}
		b.conns[addr] = c
	}
	v, err := c.Do(ctx, args...)
	if err != nil {
		if _, ok := errors.AsType[*resp.ServerError](err); !ok {
			delete(b.conns, addr) // the client closed itself
		}
	}
	return v, err
}

// topology asks the seeds (then the members they name) until one answers.
func (b *backupClient) topology(ctx context.Context) (topology, error) {
	var errs []error
	for _, a := range b.seeds {
		v, err := b.do(ctx, a, "TOPOLOGY")
		if err == nil {
			var t topology
			if t, err = parseTopology(v); err == nil {
				return t, nil
			}
		}
		errs = append(errs, fmt.Errorf("%s: %w", a, err))
	}
	return topology{}, fmt.Errorf("no node answered TOPOLOGY: %w", errors.Join(errs...))
}

// takeBackup backs up every group into out.
func takeBackup(ctx context.Context, seeds []string, out string, timeout time.Duration) (*backupManifest, error) {
	b := &backupClient{seeds: seeds, conns: map[string]*resp.Client{}}
	defer b.close()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	t, err := b.topology(tctx)
	cancel()
	if err != nil {
		return nil, err
	}
	if len(t.Groups) == 0 {
		return nil, errors.New("TOPOLOGY lists no groups")
	}
	m := &backupManifest{
		Format:  backupVersion,
		Created: time.Now().UTC(),
		Groups:  len(t.Groups),
		Ring:    ringParams{VNodes: t.VNodes, Hash: t.Hash},
	}
	dir := filepath.Dir(out)
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	for gid := range t.Groups {
		f, err := os.CreateTemp(dir, ".srbackup-group-*")
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		gctx, cancel := context.WithTimeout(ctx, timeout)
		g, err := b.backupGroup(gctx, gid, f)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("group %d: %w", gid, err)
		}
		m.Snapshots = append(m.Snapshots, g)
	}
	tmp, err := os.CreateTemp(dir, ".srbackup-*")
	if err != nil {
		return nil, err
	}
	files = append(files, tmp)
	readers := make([]io.Reader, 0, len(t.Groups))
	for _, f := range files[:len(t.Groups)] {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		readers = append(readers, f)
	}
	if err := writeBackupFile(tmp, m, readers); err != nil {
		return nil, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return nil, err
	}
	syncDir(dir)
	return m, nil
}

// syncDir makes a rename in dir durable; best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// backupGroup copies group gid's snapshot from its leader into f and
// returns its manifest entry, after checking its size and SHA-256 against
// what the leader said and that it decodes.
func (b *backupClient) backupGroup(ctx context.Context, gid int, f *os.File) (groupBackup, error) {
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return groupBackup{}, fmt.Errorf("gave up: %w", lastErr)
			case <-time.After(min(time.Duration(attempt)*100*time.Millisecond, time.Second)):
			}
		}
		t, err := b.topology(ctx)
		if err != nil {
			lastErr = err
			continue
		}
		if gid >= len(t.Groups) || t.Groups[gid].LeaderClient == "" {
			lastErr = fmt.Errorf("no leader known (%w)", errNoLeader)
			continue
		}
		leader := t.Groups[gid].LeaderClient
		if err := f.Truncate(0); err != nil {
			return groupBackup{}, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return groupBackup{}, err
		}
		g, err := b.copyGroup(ctx, leader, gid, f)
		if err == nil {
			g.Leader = t.Groups[gid].Leader
			return g, nil
		}
		lastErr = fmt.Errorf("%s: %w", leader, err)
		if se, ok := errors.AsType[*resp.ServerError](err); ok && se.Code != wire.CodeNotLeader && se.Code != wire.CodeUnavailable && se.Code != wire.CodeBusy {
			return groupBackup{}, lastErr
		}
	}
}

var errNoLeader = errors.New("the group has no leader")

// copyGroup runs OPEN, READs and CLOSE on one node.
func (b *backupClient) copyGroup(ctx context.Context, addr string, gid int, f *os.File) (groupBackup, error) {
	v, err := b.do(ctx, addr, "BACKUP.OPEN", strconv.Itoa(gid))
	if err != nil {
		return groupBackup{}, err
	}
	om, err := asMap(v)
	if err != nil {
		return groupBackup{}, fmt.Errorf("BACKUP.OPEN: %w", err)
	}
	handle := asString(om["handle"])
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = b.do(cctx, addr, "BACKUP.CLOSE", handle)
		cancel()
	}()
	g := groupBackup{
		Group:  gid,
		Index:  uint64(asInt(om["index"])),
		Term:   uint64(asInt(om["term"])),
		Bytes:  asInt(om["bytes"]),
		SHA256: asString(om["sha256"]),
	}
	h := sha256.New()
	var off int64
	for off < g.Bytes {
		v, err := b.do(ctx, addr, "BACKUP.READ", handle, strconv.FormatInt(off, 10), strconv.Itoa(backupChunk))
		if err != nil {
			return groupBackup{}, err
		}
		if len(v.Str) == 0 {
			return groupBackup{}, fmt.Errorf("snapshot ended at %d of %d bytes", off, g.Bytes)
		}
		if _, err := io.WriteString(f, v.Str); err != nil {
			return groupBackup{}, err
		}
		h.Write([]byte(v.Str))
		off += int64(len(v.Str))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != g.SHA256 {
		return groupBackup{}, errors.New("the snapshot read does not match the SHA-256 its leader sent")
	}
	// Decode it (and count its sessions): a backup that cannot be
	// restored must fail now, not on the day it is needed.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return groupBackup{}, err
	}
	st := fsm.New(fsm.DefaultLimits())
	if err := st.Restore(f); err != nil {
		return groupBackup{}, fmt.Errorf("snapshot does not decode: %w", err)
	}
	if st.AppliedIndex() != g.Index {
		return groupBackup{}, fmt.Errorf("snapshot is at index %d, its leader said %d", st.AppliedIndex(), g.Index)
	}
	g.Sessions = st.Len()
	return g, nil
}
