package httpsession

import (
	"context"

	"github.com/sessionraft/sessionraft/client"
)

// Client is what a Manager needs of a sessionraft client. *client.Client
// implements it; the interface lets a Manager run over anything with the
// same calls and results (a wrapper adding metrics, a test double).
type Client interface {
	Get(ctx context.Context, id string, opts ...client.Option) (*client.Session, error)
	Create(ctx context.Context, opts ...client.Option) (*client.Session, error)
	Set(ctx context.Context, id string, fields map[string][]byte, opts ...client.Option) (uint64, error)
	Unset(ctx context.Context, id string, names []string, opts ...client.Option) (uint64, error)
	Rotate(ctx context.Context, id string, opts ...client.Option) (string, error)
	Destroy(ctx context.Context, ids ...string) (int, error)
	List(ctx context.Context, subject string, opts ...client.Option) ([]*client.Session, error)
	Revoke(ctx context.Context, subject string, opts ...client.Option) (int, error)
}

var _ Client = (*client.Client)(nil)
