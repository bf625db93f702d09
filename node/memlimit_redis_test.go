package node

import (
	"testing"

	"github.com/sessionraft/sessionraft/fsm"
)

// TestAddsDataRedis: the Redis commands that remove keys, fields, members
// or deadlines pass the memory quota, so freeing memory always works; the
// ones that write data are held to it.
func TestAddsDataRedis(t *testing.T) {
	for _, c := range []struct {
		cmd  fsm.Command
		adds bool
	}{
		{fsm.Command{Type: fsm.CmdDestroy, Destroy: &fsm.Destroy{IDs: []string{"k"}}}, false},
		{fsm.Command{Type: fsm.CmdHDel, HDel: &fsm.HDel{Key: "k", Fields: []string{"f"}}}, false},
		{fsm.Command{Type: fsm.CmdSRem, SRem: &fsm.SRem{Key: "k", Members: []string{"m"}}}, false},
		{fsm.Command{Type: fsm.CmdGetDel, GetDel: &fsm.GetDel{Key: "k"}}, false},
		{fsm.Command{Type: fsm.CmdFlush, Flush: &fsm.Flush{}}, false},
		{fsm.Command{Type: fsm.CmdSetExpiry, SetExpiry: &fsm.SetExpiry{Key: "k"}}, false},
		{fsm.Command{Type: fsm.CmdGetEx, GetEx: &fsm.GetEx{Key: "k"}}, false},
		{fsm.Command{Type: fsm.CmdSetString, SetString: &fsm.SetString{Key: "k", Value: []byte("v")}}, true},
		{fsm.Command{Type: fsm.CmdHSet, HSet: &fsm.HSet{Key: "k", Fields: map[string][]byte{"f": nil}}}, true},
		{fsm.Command{Type: fsm.CmdSAdd, SAdd: &fsm.SAdd{Key: "k", Members: []string{"m"}}}, true},
		{fsm.Command{Type: fsm.CmdAppend, Append: &fsm.Append{Key: "k", Value: []byte("v")}}, true},
		{fsm.Command{Type: fsm.CmdTxn, Txn: &fsm.Txn{}}, true},
	} {
		if got := addsData(&c.cmd); got != c.adds {
			t.Errorf("command type %d: addsData %v, want %v", c.cmd.Type, got, c.adds)
		}
	}
}
