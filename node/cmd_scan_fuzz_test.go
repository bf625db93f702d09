package node

import (
	"slices"
	"testing"

	"github.com/sessionraft/sessionraft/fsm"
)

// FuzzScanReq: rpcScan's request decoder refuses or reads any input
// without panicking, and reads back what encodeScanReq wrote.
func FuzzScanReq(f *testing.F) {
	f.Add(encodeScanReq(12345, fsm.ScanOptions{Match: "sess:*", Count: 10, Kind: fsm.KindHash}))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, so, err := decodeScanReq(b)
		if err != nil {
			return
		}
		c2, so2, err := decodeScanReq(encodeScanReq(c, so))
		if err != nil || c2 != c || so2 != so {
			t.Fatalf("round trip: %v %+v -> %v %+v (%v)", c, so, c2, so2, err)
		}
	})
}

// FuzzScanPage: the scan reply decoder refuses or reads any input without
// panicking, and reads back what a group's page encodes to.
func FuzzScanPage(f *testing.F) {
	f.Add(uint64(7), "a", "bc")
	f.Add(uint64(0), "", "")
	f.Fuzz(func(t *testing.T, next uint64, k1, k2 string) {
		page := encodeScanPage(next, []string{k1, k2})
		n, keys, err := decodeScanPage(page)
		if err != nil || n != next || !slices.Equal(keys, []string{k1, k2}) {
			t.Fatalf("round trip: %d %q -> %d %q (%v)", next, []string{k1, k2}, n, keys, err)
		}
		for i := range page {
			decodeScanPage(page[:i]) // must not panic
		}
	})
}
