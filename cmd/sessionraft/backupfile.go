package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	"github.com/sessionraft/sessionraft/fsm"
)

// The backup file, format version 1:
//
//	"SRBACKUP" (8 bytes), uint32 big-endian manifest length, the manifest
//	(JSON, backupManifest)
//	the groups' snapshots, group 0 first, each exactly its manifest bytes
//	long (fsm's snapshot format: opaque here, decoded only to verify)
//	32 bytes: SHA-256 of every byte before them
//
// The manifest comes first so a reader knows what follows before reading
// gigabytes; each snapshot has its own SHA-256 in it, and the trailer
// covers the whole file, manifest included.
const (
	backupMagic   = "SRBACKUP"
	backupVersion = 1
	// maxManifest bounds the manifest a reader accepts: a damaged length
	// must not allocate gigabytes.
	maxManifest = 16 << 20
)

// backupManifest describes a backup file.
type backupManifest struct {
	Format  int       `json:"format_version"`
	Created time.Time `json:"created"`
	Groups  int       `json:"groups"`
	// Ring is the key → group mapping the groups were filled with; a
	// cluster restored from the file must map keys the same way.
	Ring      ringParams    `json:"ring"`
	Snapshots []groupBackup `json:"snapshots"`
}

type ringParams struct {
	VNodes int    `json:"vnodes"`
	Hash   string `json:"hash"`
}

// groupBackup is one group's entry in the manifest.
type groupBackup struct {
	Group    int    `json:"group"`
	Index    uint64 `json:"index"` // the raft index the state was taken at
	Term     uint64 `json:"term"`  // the leader's term then
	Leader   string `json:"leader"`
	Sessions int    `json:"sessions"`
	Bytes    int64  `json:"bytes"`
	SHA256   string `json:"sha256"`
}

// writeBackupFile writes m and the snapshots (one reader per group, each
// m.Snapshots[i].Bytes long) to w.
func writeBackupFile(w io.Writer, m *backupManifest, snaps []io.Reader) error {
	js, err := json.Marshal(m)
	if err != nil {
		return err
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 1<<20)
	bw.WriteString(backupMagic)
	binary.Write(bw, binary.BigEndian, uint32(len(js)))
	bw.Write(js)
	for i, r := range snaps {
		n, err := io.Copy(bw, r)
		if err != nil {
			return fmt.Errorf("group %d: %w", i, err)
		}
		if n != m.Snapshots[i].Bytes {
			return fmt.Errorf("group %d: %d bytes, manifest says %d", i, n, m.Snapshots[i].Bytes)
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err = w.Write(h.Sum(nil))
	return err
}

// errBadBackup wraps every reason a backup file is refused.
var errBadBackup = errors.New("bad backup file")

// verifiedBackup is a backup file that passed verifyBackup.
type verifiedBackup struct {
	Manifest backupManifest
	// offsets[i] is where group i's snapshot starts in the file.
	offsets []int64
}

// verifyBackup checks a backup file whole: the magic, the manifest, each
// group's size and SHA-256, that each snapshot decodes (fsm's Restore into
// a throwaway state machine) to the manifest's index and session count,
// and the file's SHA-256. Memory stays at about one group's state.
func verifyBackup(path string) (*verifiedBackup, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	whole := sha256.New()
	br := bufio.NewReaderSize(f, 1<<20)
	r := io.TeeReader(br, whole)
	head := make([]byte, len(backupMagic)+4)
	if _, err := io.ReadFull(r, head); err != nil || string(head[:len(backupMagic)]) != backupMagic {
		return nil, fmt.Errorf("%w: %s is not a sessionraft backup (no %s header)", errBadBackup, path, backupMagic)
	}
	mlen := binary.BigEndian.Uint32(head[len(backupMagic):])
	if mlen > maxManifest || int64(mlen) > st.Size() {
		return nil, fmt.Errorf("%w: manifest length %d is impossible", errBadBackup, mlen)
	}
	js := make([]byte, mlen)
	if _, err := io.ReadFull(r, js); err != nil {
		return nil, fmt.Errorf("%w: truncated manifest", errBadBackup)
	}
	vb := &verifiedBackup{}
	m := &vb.Manifest
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", errBadBackup, err)
	}
	if m.Format != backupVersion {
		return nil, fmt.Errorf("%w: format version %d; this binary reads version %d", errBadBackup, m.Format, backupVersion)
	}
	if m.Groups <= 0 || len(m.Snapshots) != m.Groups {
		return nil, fmt.Errorf("%w: manifest lists %d snapshots for %d groups", errBadBackup, len(m.Snapshots), m.Groups)
	}
	off := int64(len(head)) + int64(mlen)
	var total int64
	for i, g := range m.Snapshots {
		if g.Group != i || g.Bytes <= 0 || g.Index == 0 {
			return nil, fmt.Errorf("%w: manifest entry %d (group %d, %d bytes, index %d) is malformed", errBadBackup, i, g.Group, g.Bytes, g.Index)
		}
		total += g.Bytes
	}
	if want := off + total + sha256.Size; want != st.Size() {
		return nil, fmt.Errorf("%w: file is %d bytes, its manifest says %d (truncated or appended to)", errBadBackup, st.Size(), want)
	}
	for i, g := range m.Snapshots {
		vb.offsets = append(vb.offsets, off)
		if err := verifyGroup(io.LimitReader(r, g.Bytes), g); err != nil {
			return nil, fmt.Errorf("%w: group %d: %v", errBadBackup, i, err)
		}
		off += g.Bytes
	}
	sum := whole.Sum(nil)
	trailer := make([]byte, sha256.Size)
	if _, err := io.ReadFull(br, trailer); err != nil || !bytes.Equal(sum, trailer) {
		return nil, fmt.Errorf("%w: the file's SHA-256 does not match (damaged)", errBadBackup)
	}
	return vb, nil
}

// verifyGroup checks one group's snapshot against its manifest entry.
func verifyGroup(r io.Reader, g groupBackup) error {
	h := sha256.New()
	cr := &countReader{r: io.TeeReader(r, h)}
	f := fsm.New(fsm.DefaultLimits())
	if err := f.Restore(cr); err != nil {
		return fmt.Errorf("snapshot does not decode: %v", err)
	}
	// Restore may stop before the end of what it was given; hash the rest.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return err
	}
	return checkGroup(g, cr.n, h, f)
}

// checkGroup compares what was read of a snapshot with its manifest entry.
func checkGroup(g groupBackup, n int64, h hash.Hash, f *fsm.FSM) error {
	switch {
	case n != g.Bytes:
		return fmt.Errorf("%d bytes, manifest says %d", n, g.Bytes)
	case hex.EncodeToString(h.Sum(nil)) != g.SHA256:
		return errors.New("SHA-256 does not match the manifest (damaged)")
	case f.AppliedIndex() != g.Index:
		return fmt.Errorf("snapshot is at index %d, manifest says %d", f.AppliedIndex(), g.Index)
	case f.Len() != g.Sessions:
		return fmt.Errorf("snapshot holds %d sessions, manifest says %d", f.Len(), g.Sessions)
	}
	return nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
