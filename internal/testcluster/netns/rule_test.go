package netns

import (
	"strings"
	"testing"
)

func TestRuleLines(t *testing.T) {
	for _, tc := range []struct {
		r    Rule
		want string
	}{
		{Rule{Chain: "input", Peer: "10.213.7.12"}, "input ip saddr 10.213.7.12 drop"},
		{Rule{Chain: "output", Peer: "10.213.7.12"}, "output ip daddr 10.213.7.12 drop"},
		{Rule{Chain: "input"}, `input iifname != "lo" drop`},
		{Rule{Chain: "output"}, `output oifname != "lo" drop`},
		{Rule{Chain: "input", Peer: "10.213.7.13", LossPct: 20}, "input ip saddr 10.213.7.13 numgen random mod 100 < 20 drop"},
		{Rule{Chain: "input", Peer: "10.213.7.13", Reject: true},
			"input ip saddr 10.213.7.13 meta l4proto tcp reject with tcp reset|input ip saddr 10.213.7.13 reject with icmpx type admin-prohibited"},
	} {
		lines, err := tc.r.Lines()
		if err != nil {
			t.Errorf("%+v: %v", tc.r, err)
			continue
		}
		if got := strings.Join(lines, "|"); got != tc.want {
			t.Errorf("%+v:\n got %s\nwant %s", tc.r, got, tc.want)
		}
	}
	for _, bad := range []Rule{{Chain: "forward"}, {Chain: "input", LossPct: 100}, {Chain: "input", LossPct: -1}} {
		if _, err := bad.Lines(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
