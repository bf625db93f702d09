//go:build unix

package client

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/rueidis"
)

// TestErrorTextIsServerReply checks that a server error reads the same
// through the Client as on the wire: err.Error() is the server's reply,
// code and text, whichever node is asked (the group's leader answers
// itself, the other nodes forward to it or answer from their replica).
func TestErrorTextIsServerReply(t *testing.T) {
	c := newClient(t, Config{})
	ctx := testCtx(t)
	s, err := c.Create(ctx, WithSubject("heidi"))
	if err != nil {
		t.Fatal(err)
	}
	missing := "no-such-" + randomToken()
	for _, tc := range []struct {
		name string
		call func() error
		raw  []string // the same request, sent to every node as it is
	}{
		{"not found", func() error { _, err := c.Get(ctx, missing); return err },
			[]string{"SESSION.GET", missing}},
		{"conflict", func() error {
			_, err := c.Set(ctx, s.ID, map[string][]byte{"a": b("1")}, IfVersion(s.Version+1000))
			return err
		}, []string{"SESSION.SET", s.ID, "IFVERSION", strconv.FormatUint(s.Version+1000, 10), "FIELDS", "a", "1"}},
		{"too large", func() error {
			_, err := c.Set(ctx, s.ID, map[string][]byte{"a": make([]byte, 5000)}) // > --max-value-bytes 4096
			return err
		}, []string{"SESSION.SET", s.ID, "FIELDS", "a", string(make([]byte, 5000))}},
		{"exists", func() error { _, err := c.Create(ctx, WithID(s.ID)); return err },
			[]string{"SESSION.CREATE", "ID", s.ID}},
		{"invalid", func() error { _, err := c.Revoke(ctx, ""); return err },
			[]string{"SESSION.REVOKE", ""}},
	} {
		err := tc.call()
		var se *ServerError
		if !errors.As(err, &se) {
			t.Errorf("%s: %v is not a *ServerError", tc.name, err)
			continue
		}
		if se.Addr == "" {
			t.Errorf("%s: no address in %+v", tc.name, se)
		}
		for _, addr := range shared.Addrs() {
			want := rawError(t, addr, tc.raw)
			if err.Error() != want {
				t.Errorf("%s: client says %q, %s replies %q", tc.name, err.Error(), addr, want)
			}
		}
	}
}

// rawError sends args to addr and returns its error reply as sent (without
// the leading '-').
func rawError(t *testing.T, addr string, args []string) string {
	t.Helper()
	var got string
	err := rawDo(addr, func(ctx context.Context, rc rueidis.Client) error {
		err := rc.Do(ctx, rc.B().Arbitrary(args[0]).Args(args[1:]...).Build()).Error()
		re, ok := rueidis.IsRedisErr(err)
		if !ok {
			return errors.New("not an error reply: " + strings.TrimSpace(errString(err)))
		}
		got = re.Error()
		return nil
	})
	if err != nil {
		t.Fatalf("%s %.40q: %v", addr, args, err)
	}
	return got
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
