package metrics

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed status.html
var statusPage []byte

// Handler serves the admin endpoints:
//
//	/metrics      Prometheus text format
//	/health       200 while the process is up
//	/ready        200 or 503, with a JSON reason (load balancers, Kubernetes)
//	/status.json  this node's view of the cluster and its request totals
//	/             the live status page (one file, no external assets)
func Handler(m *Metrics, src Source) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4, // a scrape storm cannot pile up collectors
	}))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		if ok, reason := src.Ready(); !ok {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": reason})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ready": true})
	})
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, _ *http.Request) {
		st := src.Status()
		ok, reason := src.Ready()
		writeJSON(w, http.StatusOK, statusJSON{
			Status:   st,
			Now:      time.Now(),
			Ready:    ok,
			Reason:   reason,
			Requests: m.requestTotals(),
		})
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
		_, _ = w.Write(statusPage)
	})
	return mux
}

type statusJSON struct {
	Status
	Now      time.Time      `json:"now"`
	Ready    bool           `json:"ready"`
	Reason   string         `json:"reason,omitempty"`
	Requests []requestTotal `json:"requests"`
}

// requestTotal is one command's cumulative figures; the page turns two
// successive polls into rates and mean latencies.
type requestTotal struct {
	Command    string  `json:"command"`
	Count      uint64  `json:"count"`
	SumSeconds float64 `json:"sum_seconds"`
	Errors     uint64  `json:"errors"`
}

// requestTotals sums the request histogram and error counter by command.
func (m *Metrics) requestTotals() []requestTotal {
	byCmd := map[string]*requestTotal{}
	get := func(cmd string) *requestTotal {
		t := byCmd[cmd]
		if t == nil {
			t = &requestTotal{Command: cmd}
			byCmd[cmd] = t
		}
		return t
	}
	families, _ := m.reqReg.Gather()
	for _, f := range families {
		switch f.GetName() {
		case "sessionraft_request_duration_seconds":
			for _, mt := range f.GetMetric() {
				t := get(label(mt.GetLabel(), "command"))
				t.Count += mt.GetHistogram().GetSampleCount()
				t.SumSeconds += mt.GetHistogram().GetSampleSum()
			}
		case "sessionraft_request_errors_total":
			for _, mt := range f.GetMetric() {
				get(label(mt.GetLabel(), "command")).Errors += uint64(mt.GetCounter().GetValue())
			}
		}
	}
	out := make([]requestTotal, 0, len(byCmd))
	for _, t := range byCmd {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Command < out[j].Command })
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
