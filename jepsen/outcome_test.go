package jepsen

import (
	"errors"
	"fmt"
	"testing"

	"github.com/sessionraft/sessionraft/client"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// TestWriteOutcome: a refusal is a failure, unless the call also says an
// earlier attempt's outcome is unknown.
func TestWriteOutcome(t *testing.T) {
	full := &client.ServerError{Code: wire.CodeDiskFull, Message: "free disk space low"}
	if !errors.Is(full, client.ErrDiskFull) {
		t.Fatal("a DISKFULL reply is not ErrDiskFull")
	}
	for _, tc := range []struct {
		err  error
		want Outcome
	}{
		{nil, OK},
		{full, Fail},
		{fmt.Errorf("%w: rotate: an earlier attempt's outcome is unknown and a later one was refused: %w", client.ErrIndeterminate, full), Unknown},
		{client.ErrIndeterminate, Unknown},
		{errors.New("connection reset"), Unknown},
	} {
		if got := writeOutcome(tc.err); got != tc.want {
			t.Errorf("writeOutcome(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
