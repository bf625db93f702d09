package node

import (
	"runtime/debug"
	"testing"
)

// TestPauseGCNested: overlapping pauses (two nodes opening in one
// process) leave the collector paused until the last one ends, then put
// back the setting from before the first, whatever order they end in.
func TestPauseGCNested(t *testing.T) {
	before := debug.SetGCPercent(73)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	a := pauseGC()
	b := pauseGC()
	a()
	a() // a second call changes nothing
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Fatalf("collector at %d while a pause is still open, want -1 (off)", got)
	}
	b()
	if got := debug.SetGCPercent(73); got != 73 {
		t.Fatalf("collector at %d after the last pause ended, want 73", got)
	}
}
