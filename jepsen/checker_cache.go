package jepsen

import (
	"fmt"
	"slices"
	"time"
)

// checkCache checks client-side caching's revocation bound: once a destroy
// of a session is acknowledged (returned at r), no read of it that
// started after r + bound may return it, whether the cache answered or
// the cluster did. lat are the invalidation latencies the pollers
// measured (destroy acknowledged → the poller's cache no longer serves
// the session), reported as figures.
func checkCache(ops []Op, bound time.Duration, lat []time.Duration) CheckResult {
	res := CheckResult{Name: "cache"}
	destroyed := map[string]Op{}
	for _, op := range ops {
		if op.Workload == "cache" && op.F == "destroy" && op.Outcome == OK {
			destroyed[op.Key] = op
		}
	}
	var bad []string
	reads, afterAck, late := 0, 0, 0
	for _, op := range ops {
		if op.Workload != "cache" || op.F != "cached-read" || op.Outcome != OK {
			continue
		}
		reads++
		d, ok := destroyed[op.Key]
		if !ok || !op.Found || op.Call <= d.Return {
			continue
		}
		afterAck++ // served after the destroy's acknowledgement, by the cache
		if op.Call > d.Return+int64(bound) {
			late++
			bad = append(bad, fmt.Sprintf("%s destroyed [%v, %v] served by a cache at %v, %v after the acknowledgement",
				op.Key, time.Duration(d.Call), time.Duration(d.Return), time.Duration(op.Call), time.Duration(op.Call-d.Return)))
		}
	}
	res.Valid = len(bad) == 0
	res.Detail = fmt.Sprintf("%d reads, %d destroys (bound %v); served after the acknowledgement %d, past the bound %d; invalidation latency %s",
		reads, len(destroyed), bound, afterAck, late, latencyFigures(lat))
	res.Detail += firstN(bad, 5)
	return res
}

// latencyFigures formats p50, p99 and max of lat.
func latencyFigures(lat []time.Duration) string {
	if len(lat) == 0 {
		return "n/a (no poll finished)"
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return fmt.Sprintf("p50 %v p99 %v max %v (n=%d)", r(q(0.50)), r(q(0.99)), r(s[len(s)-1]), len(s))
}
