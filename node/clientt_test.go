package node

import (
	"testing"

	"github.com/sessionraft/sessionraft/transport/resp"
)

// clientT wraps a RESP client with test assertions.
type clientT struct {
	t *testing.T
	c *resp.Client
}

func (c *clientT) do(args ...string) resp.Value {
	c.t.Helper()
	return do(c.t, c.c, args...)
}

func (c *clientT) ok(args ...string) resp.Value {
	c.t.Helper()
	return mustOK(c.t, c.c, args...)
}
