package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// phaseResult gathers every run of one phase against one target; the
// Median fields are the median of each figure over the runs, taken
// separately.
type phaseResult struct {
	Target       string       `json:"target"`
	Workload     string       `json:"workload"`
	Consistency  string       `json:"consistency,omitempty"`
	OpsPerSec    float64      `json:"median_ops_per_sec"`
	P50          float64      `json:"median_p50_ms"`
	P99          float64      `json:"median_p99_ms"`
	P999         float64      `json:"median_p999_ms"`
	CPUPerOp     float64      `json:"median_server_cpu_us_per_op,omitempty"`
	ToolCPUPerOp float64      `json:"median_tool_cpu_us_per_op,omitempty"`
	Errors       uint64       `json:"errors"`
	Runs         []*runResult `json:"runs"`
}

func (r *phaseResult) summarize() {
	var ops, p50, p99, p999, cpu, tool []float64
	r.Errors = 0
	for _, x := range r.Runs {
		if x.CPUPerOp > 0 {
			cpu = append(cpu, x.CPUPerOp)
		}
		if x.ToolCPUPerOp > 0 {
			tool = append(tool, x.ToolCPUPerOp)
		}
		ops = append(ops, x.OpsPerSec)
		p50 = append(p50, x.P50)
		p99 = append(p99, x.P99)
		p999 = append(p999, x.P999)
		r.Errors += x.errorCount()
	}
	r.OpsPerSec, r.P50, r.P99, r.P999 = median(ops), median(p50), median(p99), median(p999)
	if len(cpu) > 0 {
		r.CPUPerOp = median(cpu)
	}
	if len(tool) > 0 {
		r.ToolCPUPerOp = median(tool)
	}
}

// errorKinds merges the error counts of every run.
func (r *phaseResult) errorKinds() map[string]uint64 {
	m := map[string]uint64{}
	for _, x := range r.Runs {
		for k, c := range x.Errors {
			m[k] += c
		}
	}
	return m
}

type benchSummary struct {
	Addrs       []string `json:"addrs,omitempty"`
	Redis       []string `json:"redis,omitempty"`
	Concurrency int      `json:"concurrency"`
	Pipeline    int      `json:"pipeline"`
	Duration    string   `json:"duration"`
	Warmup      string   `json:"warmup"`
	ValueSize   int      `json:"value_size"`
	Keys        int      `json:"keys"`
	Runs        int      `json:"runs"`
}

func (o *benchOptions) summary() benchSummary {
	return benchSummary{
		Addrs: o.addrs, Redis: o.redis, Concurrency: o.concurrency, Pipeline: o.pipeline,
		Duration: o.duration.String(), Warmup: o.warmup.String(), ValueSize: o.valueSize,
		Keys: o.keys, Runs: o.runs,
	}
}

type benchReport struct {
	Options benchSummary   `json:"options"`
	Results []*phaseResult `json:"results"`
}

func (r benchReport) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// usCell is a table cell of microseconds per operation, "-" for none.
func usCell(us float64) string {
	if us <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", us)
}

func (r benchReport) writeTable(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "concurrency %d x pipeline %d, value %d B, %s per run after %s warmup, %d run(s), %d keys\n\n",
		o.Concurrency, o.Pipeline, o.ValueSize, o.Duration, o.Warmup, o.Runs, o.Keys)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tworkload\tops/s\tp50 ms\tp99 ms\tp999 ms\tcpu/op us\ttool cpu/op us\terrors\tops/s per run\t")
	for _, p := range r.Results {
		wl := p.Workload
		if p.Consistency != "" {
			wl += "/" + p.Consistency
		}
		var per []string
		for _, x := range p.Runs {
			per = append(per, fmt.Sprintf("%.0f", x.OpsPerSec))
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.3f\t%.3f\t%.3f\t%s\t%s\t%d\t%s\t\n",
			p.Target, wl, p.OpsPerSec, p.P50, p.P99, p.P999, usCell(p.CPUPerOp), usCell(p.ToolCPUPerOp), p.Errors, strings.Join(per, " "))
	}
	tw.Flush()
	for _, p := range r.Results {
		kinds := p.errorKinds()
		if len(kinds) == 0 {
			continue
		}
		names := make([]string, 0, len(kinds))
		for k := range kinds {
			names = append(names, k)
		}
		sort.Strings(names)
		var parts []string
		for _, k := range names {
			parts = append(parts, fmt.Sprintf("%s=%d", k, kinds[k]))
		}
		fmt.Fprintf(w, "errors %s %s: %s\n", p.Target, p.Workload, strings.Join(parts, " "))
	}
}
