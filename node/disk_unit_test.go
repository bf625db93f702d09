package node

import (
	"testing"
	"time"
)

// diskAlarm names this node first, then the live member with the lowest id
// gossiping an alarm; dead members and cleared alarms do not count.
func TestDiskAlarmFromGossip(t *testing.T) {
	n := &Node{topo: newTopoWatch(time.Now())} // noteMember moves its epoch
	n.cfg.ID = "n1"
	steps := []struct {
		name    string
		md      meta
		alive   bool
		want    string
		selfLow bool
	}{
		{"n1", meta{ID: "n1"}, true, "", false},
		{"n3", meta{ID: "n3", DiskLow: true}, true, "n3", false},
		{"n2", meta{ID: "n2", DiskLow: true}, true, "n2", false},
		{"n2", meta{ID: "n2", DiskLow: true}, false, "n3", false},
		{"n3", meta{ID: "n3"}, true, "", false},
		{"n3", meta{ID: "n3", DiskLow: true}, true, "n1", true},
	}
	for k, s := range steps {
		n.noteMember(s.name, s.md, s.alive)
		n.disk.low.Store(s.selfLow)
		if got := n.diskAlarm(); got != s.want {
			t.Fatalf("step %d: diskAlarm() = %q, want %q", k, got, s.want)
		}
	}
}
