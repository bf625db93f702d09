package metrics

import (
	"sync"
	"testing"
	"time"
)

// TestReqCacheSeries checks that cached observers record into the series
// of their own labels, also when many goroutines resolve them at once.
func TestReqCacheSeries(t *testing.T) {
	m := New(nil)
	levels := []string{"linearizable", "stale", ""}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				for _, l := range levels {
					m.ObserveRequest("SESSION.GET", l, "", time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	m.ObserveRequest("SESSION.CREATE", "", "", time.Millisecond)
	if n := seriesCount(t, m); n != 4 {
		t.Fatalf("series: got %d, want 4", n)
	}
	for _, l := range levels {
		if got := histCount(t, m, "SESSION.GET", l); got != 800 {
			t.Errorf("SESSION.GET %q: count %d, want 800", l, got)
		}
	}
	if got := histCount(t, m, "SESSION.CREATE", ""); got != 1 {
		t.Errorf("SESSION.CREATE: count %d, want 1", got)
	}
}

// seriesCount is the number of request_duration_seconds series.
func seriesCount(t *testing.T, m *Metrics) int {
	t.Helper()
	mfs, err := m.reqReg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "sessionraft_request_duration_seconds" {
			return len(mf.GetMetric())
		}
	}
	return 0
}

// histCount is the number of observations of the request series of
// command and consistency, read back through the registry.
func histCount(t *testing.T, m *Metrics, command, consistency string) uint64 {
	t.Helper()
	mfs, err := m.reqReg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sessionraft_request_duration_seconds" {
			continue
		}
		for _, s := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range s.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if got["command"] == command && got["consistency"] == consistency {
				return s.GetHistogram().GetSampleCount()
			}
		}
	}
	t.Fatalf("no series for %s %q", command, consistency)
	return 0
}
