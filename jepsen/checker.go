package jepsen

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// CheckResult is one checker's verdict.
type CheckResult struct {
	Name   string
	Valid  bool
	Detail string // summary, and the first violations when invalid
}

// ---------------------------------------------------------------- linearizability

// regState is the model state of one register: its value and version (0
// when unknown, after a write whose outcome was unknown).
type regState struct {
	val string
	ver uint64
}

// checkLinearizable checks register ops (write, cas, read) per session id
// with porcupine. Writes of unknown outcome may take effect at any time
// after their call, or never (their return is after the end of the
// history). Failed writes and unanswered reads are left out. On failure the
// HTML visualisation is written to outDir/linearizability.html.
//
// Each unknown write leaves porcupine a choice at every point after its
// call, and a long run with a few dozen of them can outlast the search's
// time limit (a 10-minute run with 66 did). So the history is first checked
// without the unknown writes whose value no read returned: linearizing such
// a write after everything else ("never") is always possible, so leaving
// it out only removes choices, and a pass of the smaller history is a pass
// of the whole. Only when that fails is the whole history searched.
func checkLinearizable(ops []Op, init map[string]regState, outDir string) CheckResult {
	res := CheckResult{Name: "linearizable"}
	hist, unread := registerHistory(ops)
	model := registerModel(init)
	if len(unread) > 0 {
		if porcupine.CheckOperationsTimeout(model, without(hist, unread), 60*time.Second) == porcupine.Ok {
			res.Valid = true
			res.Detail = fmt.Sprintf("%d ops checked over %d sessions: Ok (%d unknown writes no read saw placed last)", len(hist), len(init), len(unread))
			return res
		}
	}
	result, info := porcupine.CheckOperationsVerbose(model, hist, 60*time.Second)
	res.Valid = result == porcupine.Ok
	res.Detail = fmt.Sprintf("%d ops checked over %d sessions: %s", len(hist), len(init), result)
	if !res.Valid && outDir != "" {
		path := filepath.Join(outDir, "linearizability.html")
		if err := os.MkdirAll(outDir, 0o755); err == nil {
			if err := porcupine.VisualizePath(model, info, path); err == nil {
				res.Detail += "; visualisation: " + path
			}
		}
	}
	if result == porcupine.Unknown {
		res.Detail += " (checker timed out: counted as a failure)"
	}
	return res
}

// registerHistory returns the register workload's operations for porcupine
// and the positions in it of the unknown writes whose value no successful
// read of their session returned.
func registerHistory(ops []Op) (hist []porcupine.Operation, unread map[int]bool) {
	var end int64
	seen := map[[2]string]bool{}
	for _, op := range ops {
		end = max(end, op.Return)
		if op.Workload == "register" && op.F == "read" && op.Outcome == OK && op.Found {
			seen[[2]string{op.Key, op.Value}] = true
		}
	}
	unread = map[int]bool{}
	for _, op := range ops {
		switch {
		case op.Workload != "register":
			continue
		case op.F == "read" && op.Outcome == OK:
		case (op.F == "write" || op.F == "cas") && op.Outcome != Fail:
		default:
			continue
		}
		ret := op.Return
		if op.Outcome == Unknown {
			ret = end + int64(time.Second)
			if !seen[[2]string{op.Key, op.Value}] {
				unread[len(hist)] = true
			}
		}
		hist = append(hist, porcupine.Operation{ClientId: op.Process, Input: op, Output: op, Call: op.Call, Return: ret})
	}
	return hist, unread
}

// without returns hist less the positions in drop.
func without(hist []porcupine.Operation, drop map[int]bool) []porcupine.Operation {
	out := make([]porcupine.Operation, 0, len(hist)-len(drop))
	for i, o := range hist {
		if !drop[i] {
			out = append(out, o)
		}
	}
	return out
}

func registerModel(init map[string]regState) porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
			by := map[string][]porcupine.Operation{}
			var keys []string
			for _, o := range h {
				k := o.Input.(Op).Key
				if _, ok := by[k]; !ok {
					keys = append(keys, k)
				}
				by[k] = append(by[k], o)
			}
			sort.Strings(keys)
			out := make([][]porcupine.Operation, 0, len(keys))
			for _, k := range keys {
				out = append(out, by[k])
			}
			return out
		},
		// Every partition starts from its own key's initial state: the
		// state carries the key until the first step.
		Init: func() []any { return []any{regState{}} },
		Step: func(state, input, _ any) []any {
			s, op := state.(regState), input.(Op)
			if s == (regState{}) {
				s = init[op.Key]
			}
			return stepRegister(s, op)
		},
		Equal: func(a, b any) bool { return a.(regState) == b.(regState) },
		DescribeOperation: func(input, _ any) string {
			op := input.(Op)
			switch op.F {
			case "read":
				if !op.Found {
					return fmt.Sprintf("read@%s -> NOTFOUND", op.Node)
				}
				return fmt.Sprintf("read@%s -> %s v%d", op.Node, op.Value, op.Version)
			case "write":
				return fmt.Sprintf("write(%s) -> %s v%d", op.Value, op.Outcome, op.Version)
			default:
				if op.Conflict {
					return fmt.Sprintf("cas(v%d, %s) -> CONFLICT", op.IfVer, op.Value)
				}
				return fmt.Sprintf("cas(v%d, %s) -> %s v%d", op.IfVer, op.Value, op.Outcome, op.Version)
			}
		},
		DescribeState: func(state any) string {
			s := state.(regState)
			return fmt.Sprintf("%s v%d", s.val, s.ver)
		},
	}
	return nm.ToModel()
}

// stepRegister returns the states op can lead to from s (none: op is not
// possible in s).
func stepRegister(s regState, op Op) []any {
	known := s.ver != 0
	switch op.F {
	case "read":
		if !op.Found || op.Value != s.val || (known && op.Version != s.ver) {
			return nil
		}
		return []any{regState{val: op.Value, ver: op.Version}}
	case "write":
		if op.Outcome == Unknown {
			return []any{regState{val: op.Value}}
		}
		if known && op.Version < s.ver { // versions never go back
			return nil
		}
		return []any{regState{val: op.Value, ver: op.Version}}
	case "cas":
		switch {
		case op.Outcome == Unknown && !known:
			return []any{s, regState{val: op.Value}}
		case op.Outcome == Unknown && s.ver == op.IfVer:
			return []any{regState{val: op.Value}}
		case op.Outcome == Unknown:
			return []any{s}
		case op.Conflict:
			if known && s.ver == op.IfVer {
				return nil
			}
			return []any{s}
		default:
			if known && s.ver != op.IfVer {
				return nil
			}
			return []any{regState{val: op.Value, ver: op.Version}}
		}
	}
	return nil
}

// ---------------------------------------------------------------- staleness

// checkStaleness: a stale read must not miss a write acknowledged more than
// bound before the read started (bound = max-staleness + clock skew +
// slack). Versions order the writes of one session.
func checkStaleness(ops []Op, bound time.Duration) CheckResult {
	res := CheckResult{Name: "stale-bound", Valid: true}
	type w struct {
		ret int64
		ver uint64
	}
	writes := map[string][]w{}
	for _, op := range ops {
		if (op.F == "write" || op.F == "cas") && op.Outcome == OK && !op.Conflict {
			writes[op.Key] = append(writes[op.Key], w{op.Return, op.Version})
		}
	}
	for _, ws := range writes {
		sort.Slice(ws, func(i, j int) bool { return ws[i].ret < ws[j].ret })
		for i := 1; i < len(ws); i++ { // prefix maximum of versions
			ws[i].ver = max(ws[i].ver, ws[i-1].ver)
		}
	}
	var bad []string
	checked := 0
	for _, op := range ops {
		if op.F != "stale-read" || op.Outcome != OK || !op.Found || op.Workload != "register" {
			continue
		}
		checked++
		ws := writes[op.Key]
		limit := op.Call - int64(bound)
		i := sort.Search(len(ws), func(i int) bool { return ws[i].ret >= limit })
		if i > 0 && ws[i-1].ver > op.Version {
			bad = append(bad, fmt.Sprintf("stale read of %s on %s at %v returned v%d, but v%d was acknowledged before %v",
				op.Key, op.Node, time.Duration(op.Call), op.Version, ws[i-1].ver, time.Duration(limit)))
		}
	}
	res.Valid = len(bad) == 0
	res.Detail = fmt.Sprintf("%d stale reads checked (bound %v)", checked, bound)
	res.Detail += firstN(bad, 5)
	return res
}

// ---------------------------------------------------------------- set

// checkSet: every acknowledged create (and rotate's new id) that was not
// later destroyed or rotated away is in the final list; every id whose
// destroy or rotation was acknowledged is not.
func checkSet(ops []Op, final map[string]bool) CheckResult {
	res := CheckResult{Name: "set"}
	if final == nil {
		res.Detail = "no final read"
		return res
	}
	present := map[string]bool{} // must be present
	absent := map[string]bool{}  // must be absent
	maybe := map[string]bool{}
	acked := 0
	for _, op := range ops {
		if op.Workload != "set" {
			continue
		}
		switch op.F {
		case "create":
			if op.Outcome == OK {
				present[op.Key] = true
				acked++
			}
		case "rotate":
			switch op.Outcome {
			case OK:
				delete(present, op.Key)
				absent[op.Key] = true
				present[op.NewKey] = true
			case Unknown:
				delete(present, op.Key)
				maybe[op.Key] = true
			}
		case "destroy":
			switch op.Outcome {
			case OK:
				delete(present, op.Key)
				absent[op.Key] = true
			default:
				delete(present, op.Key)
				maybe[op.Key] = true
			}
		}
	}
	var lost, back []string
	for id := range present {
		if !final[id] {
			lost = append(lost, id)
		}
	}
	for id := range absent {
		if final[id] {
			back = append(back, id)
		}
	}
	sort.Strings(lost)
	sort.Strings(back)
	res.Valid = len(lost) == 0 && len(back) == 0
	res.Detail = fmt.Sprintf("%d acked creates, %d expected present, %d destroyed/rotated away, %d of unknown fate, %d in final read; lost %d, came back %d",
		acked, len(present), len(absent), len(maybe), len(final), len(lost), len(back))
	res.Detail += firstN(append(prefix("lost ", lost), prefix("came back ", back)...), 5)
	return res
}

// ---------------------------------------------------------------- ttl

// checkTTL: a session created with TTL t, whose create was called at c0
// and returned at c1, must not be served by a read that started after
// c1 + t + bound, and a linearizable read that ended before c0 + t - bound
// must find it (ttl sessions are never destroyed). bound is the clock-skew
// bound between any two nodes plus slack.
func checkTTL(ops []Op, bound time.Duration) CheckResult {
	res := CheckResult{Name: "ttl"}
	creates := map[string]Op{}
	for _, op := range ops {
		if op.Workload == "ttl" && op.F == "create" && op.Outcome == OK {
			creates[op.Key] = op
		}
	}
	var bad []string
	late, early := 0, 0
	for _, op := range ops {
		c, ok := creates[op.Key]
		if !ok || op.Workload != "ttl" || op.F == "create" || op.Outcome != OK {
			continue
		}
		if op.Found && op.Call > c.Return+c.TTL+int64(bound) {
			late++
			bad = append(bad, fmt.Sprintf("%s (TTL %v, created [%v, %v]) served by %s %s at %v, %v after deadline",
				op.Key, time.Duration(c.TTL), time.Duration(c.Call), time.Duration(c.Return), op.Node, op.F,
				time.Duration(op.Call), time.Duration(op.Call-c.Return-c.TTL)))
		}
		if !op.Found && op.F == "read" && op.Return < c.Call+c.TTL-int64(bound) {
			early++
			bad = append(bad, fmt.Sprintf("%s (TTL %v, created [%v, %v]) NOTFOUND on %s at %v, %v before deadline",
				op.Key, time.Duration(c.TTL), time.Duration(c.Call), time.Duration(c.Return), op.Node,
				time.Duration(op.Return), time.Duration(c.Call+c.TTL-op.Return)))
		}
	}
	res.Valid = len(bad) == 0
	res.Detail = fmt.Sprintf("%d sessions (bound %v); served late %d, missing early %d", len(creates), bound, late, early)
	res.Detail += firstN(bad, 5)
	return res
}

func prefix(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}

func firstN(ss []string, n int) string {
	if len(ss) == 0 {
		return ""
	}
	more := ""
	if len(ss) > n {
		more = fmt.Sprintf("\n    ... and %d more", len(ss)-n)
		ss = ss[:n]
	}
	return "\n    " + strings.Join(ss, "\n    ") + more
}
