package glob

import (
	"regexp"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything", true},
		{"sess:*", "sess:abc", true},
		{"sess:*", "sessx", false},
		{"h?llo", "hello", true},
		{"h?llo", "hllo", false},
		{"h*llo", "heeeello", true},
		{"h*llo", "hello world", false},
		{"h[ae]llo", "hallo", true},
		{"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false},
		{"h[a-b]llo", "hbllo", true},
		{"h[b-a]llo", "hallo", true}, // reversed range, as Redis accepts
		{"h[a-b]llo", "hcllo", false},
		{`h\*llo`, "h*llo", true},
		{`h\*llo`, "hello", false},
		{`[\]]`, "]", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"*a", "bbba", true},
		{"**a**", "a", true},
		{"[abc", "a", true}, // unclosed class runs to the end
		{`a\`, `a\`, true},  // trailing backslash is literal
		{"a/b", "a/b", true},
		{"*", "a/b", true}, // '/' is an ordinary byte
	}
	for _, tc := range tests {
		if got := Match(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestIsLiteral(t *testing.T) {
	for p, want := range map[string]bool{"abc": true, "": true, "a*": false, "a?": false, "[a]": false, `a\b`: false} {
		if got := IsLiteral(p); got != want {
			t.Errorf("IsLiteral(%q) = %v", p, got)
		}
	}
}

// TestHostilePattern: many stars against a long non-matching string must
// finish quickly (the matcher is O(len(p)*len(s)) at worst), which the
// test's own timeout enforces.
func TestHostilePattern(t *testing.T) {
	p := strings.Repeat("*a", 500) + "b"
	s := strings.Repeat("a", 20000)
	if Match(p, s) {
		t.Fatal("matched")
	}
}

// toRegexp translates the subset of patterns without classes or escapes,
// which regexp can judge independently.
func toRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`\A(?s)`)
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		}
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

func FuzzMatch(f *testing.F) {
	f.Add("a*b?c", "aXXbYc")
	f.Add("[a-z]*\\", "q\\")
	f.Add("**", "")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 64 || len(s) > 256 {
			return
		}
		got := Match(pattern, s) // must not panic
		if strings.ContainsAny(pattern, `[\`) {
			return
		}
		// Byte-wise regexp: restrict to ASCII so '.' means one byte.
		for i := 0; i < len(pattern); i++ {
			if pattern[i] >= 0x80 {
				return
			}
		}
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return
			}
		}
		if want := toRegexp(pattern).MatchString(s); got != want {
			t.Fatalf("Match(%q, %q) = %v, regexp says %v", pattern, s, got, want)
		}
	})
}
