package node

import (
	"encoding/binary"
	"testing"
)

// The flags read and print as Redis 7's keyspaceEventsStringToFlags and
// keyspaceEventsFlagsToString do (TestRedisRepliesMatchRedis checks two of
// them against a real server).
func TestNotifyFlags(t *testing.T) {
	for in, want := range map[string]string{
		"":      "",
		"KEA":   "AKE",
		"Kgx":   "gxK",
		"AKEn":  "AKE", // Redis drops n when printing A
		"Eh$m":  "$hEm",
		"gKngE": "gnKE",
	} {
		f, err := parseNotifyFlags(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := formatNotifyFlags(f); got != want {
			t.Errorf("%q prints %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"Q", "KEA ", "k"} {
		if _, err := parseNotifyFlags(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The publish RPC's payload decoder refuses what it cannot read and never
// panics.
func FuzzPublishPayload(f *testing.F) {
	ok := binary.AppendUvarint(nil, 4)
	f.Add(append(ok, "chanmessage"...))
	f.Add([]byte{0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		var n Node
		out, err := n.handlePublishRPC(payload)
		if err == nil {
			if got, k := binary.Uvarint(out); k <= 0 || got != 0 {
				t.Fatalf("no subscribers, reply %v", out)
			}
		}
	})
}
