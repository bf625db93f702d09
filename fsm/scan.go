package fsm

import (
	"hash/maphash"

	"github.com/sessionraft/sessionraft/internal/glob"
)

// SCAN over one group's keys.
//
// A cursor walks the 64 shards in order and, within a shard, its table's
// home buckets in bit-reversed order (table.scan, which says why a key
// present for the whole scan is returned at least once however the table
// grows, shrinks, or is rebuilt by Restore or Flush). A key may be
// returned more than once, as Redis allows.
//
// Table placement hashes with a seed random per process (so that clients
// cannot choose colliding ids), so a cursor means something only to the
// process that made it: it carries a tag of that seed, and a cursor with
// another process's tag (the group's leader changed between two pages)
// starts the scan over. The guarantee holds (every key is returned again),
// at the price of duplicates. A stable order across processes would need a
// hash without a secret, which clients could attack.
//
// Cursor layout, below 2^ScanCursorBits so that the node can add its own
// bits (the group) and stay below 2^53, where JavaScript clients read
// numbers exactly:
//
//	bits 0-27   the shard's bucket cursor (tables of up to 2^28 slots)
//	bits 28-33  the shard
//	bits 34-47  the process tag (never 0, so a cursor in progress is never 0)
const (
	ScanCursorBits = 48

	scanPosBits   = 28
	scanShardBits = 6
	scanTagShift  = scanPosBits + scanShardBits
	scanTagBits   = ScanCursorBits - scanTagShift
)

// scanTag identifies this process's table seed in cursors.
var scanTag = func() uint64 {
	tag := maphash.String(tableSeed, "scan cursor") & (1<<scanTagBits - 1)
	if tag == 0 {
		tag = 1
	}
	return tag
}()

// ScanOptions are SCAN's options.
type ScanOptions struct {
	// Match is a glob pattern (internal/glob, Redis's syntax) that keys
	// must match; "" matches every key.
	Match string
	// Count is the work a page does, as in Redis: about that many keys
	// are examined (before Match and Kind filter them), so a page may
	// return fewer keys, none, or a few more. <= 0 means 10.
	Count int
	// Kind, if not 0, keeps only keys of that kind (SCAN TYPE).
	Kind Kind
}

// Scan returns one page of the group's live keys (as Get judges liveness
// at now) and the cursor of the next page. Cursor 0 starts a scan, and a
// returned 0 ends it. Keys are the records' own strings.
func (f *FSM) Scan(cursor uint64, o ScanOptions, now int64) (next uint64, keys []string) {
	st := f.state.Load()
	now = max(now, st.clock.Load())
	count := o.Count
	if count <= 0 {
		count = 10
	}
	shard, pos := 0, uint64(0)
	if cursor>>scanTagShift == scanTag {
		shard = int(cursor >> scanPosBits & (1<<scanShardBits - 1))
		pos = cursor & (1<<scanPosBits - 1)
	}
	examined, buckets := 0, 0
	visit := func(r *Record) {
		examined++
		if r.ExpiredAt(now) || o.Kind != 0 && r.Kind() != o.Kind || o.Match != "" && !glob.Match(o.Match, r.ID()) {
			return
		}
		keys = append(keys, r.ID())
	}
	for shard < numShards && examined < count && buckets < 10*count {
		sh := &st.shards[shard]
		sh.mu.RLock()
		if sh.m.len() == 0 {
			pos = 0 // an empty shard costs no work: small groups end in a page
		}
		for pos != 0 || sh.m.len() > 0 {
			pos = sh.m.scan(pos, visit)
			buckets++
			if pos == 0 || examined >= count || buckets >= 10*count {
				break
			}
		}
		sh.mu.RUnlock()
		if pos == 0 {
			shard++
		}
	}
	if shard == numShards {
		return 0, keys
	}
	return scanTag<<scanTagShift | uint64(shard)<<scanPosBits | pos&(1<<scanPosBits-1), keys
}
