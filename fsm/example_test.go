package fsm_test

import (
	"fmt"
	"time"

	"github.com/sessionraft/sessionraft/fsm"
)

func ExampleFSM() {
	f := fsm.New(fsm.DefaultLimits())
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC).UnixNano()

	// The leader packs client commands into one batch per raft entry; raft
	// hands it to every replica with the entry's index.
	results := f.ApplyDecoded(1, &fsm.Batch{Time: now, Cmds: []fsm.Command{
		{Type: fsm.CmdCreate, Create: &fsm.Create{
			ID:          "sess-1",
			Subject:     "alice",
			Fields:      map[string][]byte{"cart": []byte("3 apples")},
			IdleTimeout: int64(30 * time.Minute),
		}},
		{Type: fsm.CmdCreate, Create: &fsm.Create{ID: "sess-1"}},
	}})
	fmt.Println("create:", results[0].Err, "version", results[0].Version)
	fmt.Println("again: ", results[1].Err)

	if r, ok := f.Get("sess-1", now+int64(time.Minute)); ok {
		fmt.Printf("get:    %s cart=%q\n", r.Subject(), r.FieldMap()["cart"])
	}
	_, ok := f.Get("sess-1", now+int64(31*time.Minute))
	fmt.Println("after idle timeout:", ok)
	// Output:
	// create: <nil> version 1
	// again:  fsm: already exists: id "sess-1"
	// get:    alice cart="3 apples"
	// after idle timeout: false
}
