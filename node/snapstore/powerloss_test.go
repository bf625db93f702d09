package snapstore

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/internal/crashfs"
)

// TestPowerLoss is the store's durability property under power loss, on
// crashfs.Mem. Each seed runs rounds of: open the store (a
// crash can come inside New's clean-up too), check it, then take
// snapshots as raft does (Create, Write in pieces, Close; sometimes
// Cancel) until the crash point, then reboot. After every reboot:
//   - New succeeds;
//   - the newest listed snapshot is at least as new as the newest whose
//     Close returned nil: raft compacts its log right after that Close, so
//     this is what lets the replica start (its log then starts at or
//     before the snapshot's next entry);
//   - every listed snapshot opens and reads back byte for byte as written,
//     with its index and term (complete, or not listed at all);
//   - no ".tmp" directory is left.
//
// The bounded run is part of the suite; a longer one:
//
//	SNAPSTORE_POWERLOSS_SEEDS=20000 go test -run TestPowerLoss -v ./node/snapstore
func TestPowerLoss(t *testing.T) {
	seeds := 300
	if s := os.Getenv("SNAPSTORE_POWERLOSS_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("SNAPSTORE_POWERLOSS_SEEDS=%q: %v", s, err)
		}
		seeds = n
	}
	var st powerLossStats
	for seed := range uint64(seeds) {
		if err := powerLoss(seed, nil, &st); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
	t.Logf("%d seeds: %d crash points (%d inside New), %d snapshots acknowledged, %d cancelled, %d reopens, %d snapshots read back whole (%d bytes), %d half-written removed; nothing lost",
		seeds, st.crashes, st.newCrashes, st.acked, st.cancelled, st.reopens, st.verified, st.bytes, st.removed)
}

// TestPowerLossCatchesMissingSyncs is the test of the test: the same run
// on a file system that ignores one of the store's directory syncs must
// find a lost or incomplete snapshot. Without the sync of "<id>.tmp"
// before the rename (hashicorp/raft's FileSnapshotStore's order) a
// snapshot can survive without its files; without the sync of
// "snapshots" after it, an acknowledged snapshot can vanish.
func TestPowerLossCatchesMissingSyncs(t *testing.T) {
	for name, skip := range map[string]func(string) bool{
		"snapshot directory": func(dir string) bool { return strings.HasSuffix(dir, tmpSuffix) },
		"snapshots":          func(dir string) bool { return strings.HasSuffix(dir, "/snapshots") },
	} {
		t.Run(name, func(t *testing.T) {
			var st powerLossStats
			for seed := range uint64(2000) {
				if err := powerLoss(seed, skip, &st); err != nil {
					t.Logf("without the sync of the %s, seed %d: %v", name, seed, err)
					return
				}
			}
			t.Fatalf("2000 seeds without the sync of the %s found nothing: the model cannot see that sync", name)
		})
	}
}

type powerLossStats struct {
	crashes, newCrashes, acked, cancelled, reopens, verified, removed int
	bytes                                                             int64
}

// snapshotData is what the snapshot at (term, index) holds: its length
// and bytes follow from both, so a read-back can be checked exactly.
func snapshotData(term, index uint64) []byte {
	r := rand.New(rand.NewPCG(term, index))
	n := r.IntN(3000)
	if r.IntN(8) == 0 {
		n = r.IntN(40000) // a few span many sectors and buffer flushes
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func powerLoss(seed uint64, skipSync func(string) bool, st *powerLossStats) error {
	rng := rand.New(rand.NewPCG(seed, 13))
	fsys := crashfs.NewMem(rng)
	if err := fsys.MkdirAll("/data/g"); err != nil {
		return err
	}
	if err := fsys.SyncDir("/data"); err != nil {
		return err
	}
	if err := fsys.SyncDir("/"); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var term, index, acked uint64
	for round := range 8 {
		fsys.CrashAfter(1 + rng.IntN(80))
		fsys.IgnoreSyncDir(skipSync)
		s, err := New("/data/g", Options{fs: fsys, Logger: logger})
		if err != nil {
			if !fsys.Crashed() {
				return fmt.Errorf("round %d: New: %v", round, err)
			}
			st.crashes++
			st.newCrashes++
			fsys = fsys.Image()
			continue
		}
		st.reopens++
		st.removed += len(s.Removed)
		if err := checkStore(fsys, s, acked, st); err != nil {
			if fsys.Crashed() {
				st.crashes++
				st.newCrashes++
				fsys = fsys.Image()
				continue
			}
			return fmt.Errorf("round %d (acknowledged up to index %d): %v", round, acked, err)
		}
		// Snapshots as raft takes them, until the power goes.
		if err := takeSnapshots(rng, s, &term, &index, &acked, st); err != nil && !fsys.Crashed() {
			return fmt.Errorf("round %d: %v without a crash", round, err)
		}
		// No crash point reached: the power goes between snapshots.
		st.crashes++
		fsys = fsys.Image()
	}
	return nil
}

// takeSnapshots takes up to 12 snapshots as raft does (one in ten is
// cancelled), counting in acked the index of each whose Close returned
// nil; it stops at the first error (the crash).
func takeSnapshots(rng *rand.Rand, s *Store, term, index, acked *uint64, st *powerLossStats) error {
	for range 12 {
		if rng.IntN(4) == 0 {
			*term++
		}
		*index += 1 + uint64(rng.IntN(100))
		data := snapshotData(*term, *index)
		sink, err := s.Create(raft.SnapshotVersionMax, *index, *term, raft.Configuration{
			Servers: []raft.Server{{ID: "n1", Address: "127.0.0.1:1", Suffrage: raft.Voter}},
		}, *index, nil)
		if err != nil {
			return err
		}
		for rest := data; len(rest) > 0; {
			k := min(len(rest), 1+rng.IntN(9000))
			if _, err := sink.Write(rest[:k]); err != nil {
				_ = sink.Cancel()
				return err
			}
			rest = rest[k:]
		}
		if rng.IntN(10) == 0 {
			st.cancelled++
			if err := sink.Cancel(); err != nil {
				return err
			}
			continue
		}
		if err := sink.Close(); err != nil {
			return err
		}
		*acked = *index
		st.acked++
	}
	return nil
}

// checkStore checks the property after a reboot (see TestPowerLoss).
func checkStore(fsys *crashfs.Mem, s *Store, acked uint64, st *powerLossStats) error {
	metas, err := s.List()
	if err != nil {
		return fmt.Errorf("List: %v", err)
	}
	if acked > 0 && (len(metas) == 0 || metas[0].Index < acked) {
		return fmt.Errorf("the snapshot at index %d was acknowledged, the newest listed is %s", acked, describe(metas))
	}
	if len(metas) > 2 {
		return fmt.Errorf("%d snapshots listed, 2 retained", len(metas))
	}
	for _, m := range metas {
		got, rc, err := s.Open(m.ID)
		if err != nil {
			return fmt.Errorf("listed snapshot %s does not open: %v", m.ID, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("read snapshot %s: %v", m.ID, err)
		}
		if got.Index != m.Index || got.Term != m.Term || got.Size != int64(len(b)) {
			return fmt.Errorf("snapshot %s: metadata %d/%d/%d, listed %d/%d, read %d bytes", m.ID, got.Index, got.Term, got.Size, m.Index, m.Term, len(b))
		}
		if len(got.Configuration.Servers) != 1 || got.ConfigurationIndex != m.Index {
			return fmt.Errorf("snapshot %s: configuration %+v at %d", m.ID, got.Configuration, got.ConfigurationIndex)
		}
		if want := snapshotData(m.Term, m.Index); !bytes.Equal(b, want) {
			return fmt.Errorf("snapshot %s reads %d bytes that differ from the %d written", m.ID, len(b), len(want))
		}
		st.verified++
		st.bytes += int64(len(b))
	}
	ents, err := fsys.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name, tmpSuffix) {
			return fmt.Errorf("%s left after New", e.Name)
		}
	}
	return nil
}

func describe(metas []*raft.SnapshotMeta) string {
	if len(metas) == 0 {
		return "none"
	}
	return fmt.Sprintf("%s (index %d)", metas[0].ID, metas[0].Index)
}
