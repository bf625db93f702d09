package raftwal

import (
	"bytes"
	"testing"
)

// FuzzScanSegment: scanning any bytes neither panics nor keeps anything
// but intact records; what it keeps scans again to the same records with
// nothing to cut, and takes a next write after it.
func FuzzScanSegment(f *testing.F) {
	w := writtenSegment(f)
	f.Add(w, true)
	f.Add(w, false)
	f.Add(w[:len(w)-30], true)
	f.Add(append(bytes.Clone(w[:len(w)-30]), make([]byte, 600)...), true)
	z := bytes.Clone(w)
	clear(z[40:60])
	f.Add(z, true)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, data []byte, last bool) {
		var recs []scannedRecord
		collect := func(r scannedRecord) error { recs = append(recs, r); return nil }
		sc, dmg, _ := scanSegment(data, last, collect)
		if dmg != nil {
			if dmg.off < 0 || dmg.off > len(data) || dmg.reason == "" {
				t.Fatalf("damage %+v in %d bytes", dmg, len(data))
			}
			return
		}
		// Bytes not kept are a torn tail, said, or zeros after whole
		// writes of the last segment (its preallocated space), not.
		if sc.end < 0 || sc.end > len(data) || sc.torn == "" && sc.end < len(data) && !(last && allZero(data[sc.end:])) || sc.torn != "" && sc.end == len(data) {
			t.Fatalf("end %d of %d, torn %q", sc.end, len(data), sc.torn)
		}
		if !last && sc.torn != "" {
			t.Fatalf("torn tail %q in a segment that is not the last", sc.torn)
		}
		p := 0
		for _, r := range append(append([]scannedRecord(nil), recs...), sc.cut...) {
			if r.off < p {
				t.Fatalf("record at %d overlaps the one before (ends %d)", r.off, p)
			}
			kind, payload, size, ok := parseRecord(data[r.off:])
			if !ok || kind != r.kind || size != r.size || !bytes.Equal(payload, r.payload) {
				t.Fatalf("record at %d is not intact", r.off)
			}
			p = r.off + r.size
		}
		for _, r := range recs {
			if r.off+r.size > sc.end {
				t.Fatalf("kept record at %d runs past the end %d", r.off, sc.end)
			}
		}
		n := len(recs)
		kept := data[:sc.end]
		recs = nil
		again, dmg, _ := scanSegment(kept, last, collect)
		if dmg != nil || again.torn != "" || len(recs) != n {
			t.Fatalf("rescan of the %d kept bytes: %+v, %+v, %d records (first scan: %d)", sc.end, again, dmg, len(recs), n)
		}
		next := appendRecord(make([]byte, markerSize), kindDelete, deletePayload(1, 1))
		putMarker(next, len(next))
		recs = nil
		after, dmg, _ := scanSegment(append(bytes.Clone(kept), next...), last, collect)
		if dmg != nil || after.torn != "" || len(recs) != n+1 {
			t.Fatalf("a write after the kept bytes: %+v, %+v, %d records (want %d)", after, dmg, len(recs), n+1)
		}
	})
}
