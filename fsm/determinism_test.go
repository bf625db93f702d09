package fsm

import (
	"bytes"
	"strings"
	"testing"
)

// TestDeterminism replays one random log into several FSMs by different
// routes (encoded, decoded, through a snapshot taken midway) and requires
// identical states and identical results.
func TestDeterminism(t *testing.T) {
	const n = 3000
	log, gen := genLog(7, n)

	a, b, c := New(Limits{DedupWindow: 30 * sec}), New(Limits{DedupWindow: 30 * sec}), New(Limits{DedupWindow: 30 * sec})
	var d *FSM
	var resA, resD [][]byte
	seen := map[[2]int]int{} // (command type, error code) → results
	// Tombstones at work: creates and rotates refused because the id was
	// used before, and ids created again after such a refusal.
	var refusedCreate, refusedRotate, reborn, aborted, txnErrs int
	refused := map[string]bool{}
	for i, e := range log {
		ra, err := a.ApplyBatch(e.index, e.data)
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range ra {
			c := e.batch.Cmds[j]
			code, _ := errorCode(r.Err)
			seen[[2]int{int(c.Type), int(code)}]++
			used := r.Err != nil && strings.Contains(r.Err.Error(), "used before")
			if x := r.Txn; x != nil {
				if x.Aborted {
					aborted++
				}
				for _, ir := range x.Results {
					if ir.Err != nil {
						txnErrs++
					}
				}
			}
			switch {
			case c.Type == CmdCreate && used:
				refusedCreate++
				refused[c.Create.ID] = true
			case c.Type == CmdRotate && used:
				refusedRotate++
			case c.Type == CmdCreate && r.Err == nil && r.ID == c.Create.ID && refused[c.Create.ID]:
				reborn++
				delete(refused, c.Create.ID)
			}
		}
		b.ApplyDecoded(e.index, e.batch)
		if d == nil {
			if _, err := c.ApplyBatch(e.index, e.data); err != nil {
				t.Fatal(err)
			}
		}
		if i == n/2 {
			if a.Hash() != c.Hash() {
				t.Fatal("diverged before the snapshot")
			}
			snap, err := c.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if _, err := snap.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			snap.Release()
			d = New(Limits{DedupWindow: 30 * sec})
			if err := d.Restore(&buf); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if d != nil {
			rd, err := d.ApplyBatch(e.index, e.data)
			if err != nil {
				t.Fatal(err)
			}
			resA = append(resA, encodeResults(ra))
			resD = append(resD, encodeResults(rd))
		}
	}
	want := a.Hash()
	for name, f := range map[string]*FSM{"decoded": b, "restored": d, "generator": gen} {
		if f.Hash() != want {
			t.Errorf("%s FSM diverged", name)
		}
	}
	for i := range resA {
		if !bytes.Equal(resA[i], resD[i]) {
			t.Fatalf("results differ at entry %d after the snapshot", n/2+1+i)
		}
	}
	if a.Len() == 0 || a.state.Load().dedup.len() == 0 || a.state.Load().tombs.len() == 0 {
		t.Fatalf("log too tame: %d records, %d dedup entries, %d tombstones",
			a.Len(), a.state.Load().dedup.len(), a.state.Load().tombs.len())
	}
	if refusedCreate < 20 || refusedRotate == 0 || reborn < 5 {
		t.Errorf("tombstones barely exercised: %d creates and %d rotates refused, %d ids created again",
			refusedCreate, refusedRotate, reborn)
	}
	for _, k := range [][2]int{
		{int(CmdCreate), int(codeNone)}, {int(CmdCreate), int(codeExists)},
		{int(CmdSet), int(codeNone)}, {int(CmdSet), int(codeNotFound)}, {int(CmdSet), int(codeConflict)},
		{int(CmdTouch), int(codeNone)}, {int(CmdDestroy), int(codeNone)},
		{int(CmdRotate), int(codeNone)}, {int(CmdRotate), int(codeNotFound)}, {int(CmdRotate), int(codeExists)},
		{int(CmdRevoke), int(codeNone)}, {int(CmdExpire), int(codeNone)},
		{int(CmdSetString), int(codeNone)}, {int(CmdSetString), int(codeWrongType)},
		{int(CmdMSet), int(codeNone)}, {int(CmdGetDel), int(codeNone)}, {int(CmdGetEx), int(codeNone)},
		{int(CmdSetExpiry), int(codeNone)}, {int(CmdIncrBy), int(codeNone)}, {int(CmdIncrBy), int(codeNotInteger)},
		{int(CmdIncrBy), int(codeWrongType)}, {int(CmdAppend), int(codeNone)},
		{int(CmdHSet), int(codeNone)}, {int(CmdHSet), int(codeWrongType)}, {int(CmdHDel), int(codeNone)},
		{int(CmdHIncrBy), int(codeNone)}, {int(CmdHIncrBy), int(codeNotInteger)},
		{int(CmdSAdd), int(codeNone)}, {int(CmdSRem), int(codeNone)}, {int(CmdSAdd), int(codeWrongType)},
		{int(CmdRename), int(codeNone)}, {int(CmdRename), int(codeNotFound)},
		{int(CmdFlush), int(codeNone)}, {int(CmdTxn), int(codeNone)},
	} {
		if seen[k] == 0 {
			t.Errorf("log never produced command type %d with error code %d", k[0], k[1])
		}
	}
	if aborted == 0 || txnErrs == 0 {
		t.Errorf("transactions barely exercised: %d aborted, %d commands failed inside one", aborted, txnErrs)
	}
	t.Logf("final: %v, dedup %d, tombstones %d; used-before refusals: %d creates, %d rotates; %d ids created again",
		a, a.state.Load().dedup.len(), a.state.Load().tombs.len(), refusedCreate, refusedRotate, reborn)
}

func encodeResults(rs []Result) []byte {
	var out []byte
	for i := range rs {
		out = AppendResult(out, &rs[i])
	}
	return out
}
