package client

import (
	"context"
	"time"
)

// An attempt needs a context with a deadline for rueidis to give up on it
// (call.go). context.WithDeadline per attempt costs a timer, five
// allocations and a registration with the parent, which cancel undoes:
// about 5% of the load tool's CPU per stale read (sr bench, 64 clients).
// Attempts that start within a short time of each other, from the same
// caller's context, ask for deadlines within deadlineGrain of each other,
// so they share one context. A new shared one replaces the last once that
// is a grain old; none is cancelled when its attempts end, since others
// may still be using it, but by its own timer, its parent or Close.

// sharedDeadline is one such shared context.
type sharedDeadline struct {
	// done is the Done channel of the caller's context it derives from
	// (nil for a context that is never cancelled, such as Background):
	// two contexts with the same Done channel are cancelled together, so
	// an attempt of either may use it.
	done <-chan struct{}
	dl   time.Time // its deadline
	ctx  context.Context
	// cancel is called only if the context did not get shared after all;
	// a shared one is released by its deadline's timer, its parent's
	// cancellation or, deriving from the Client's context, by Close.
	cancel context.CancelFunc
}

// deadlineGrain is how much sooner than the deadline it asks for an
// attempt may end when it shares a context: 1/256 of attemptTimeout (4 to
// 10ms with RequestTimeout up to 5s). Sharing never makes an attempt end
// later than asked, so it never outlasts the call's deadline.
func (c *Client) deadlineGrain() time.Duration { return c.attemptTimeout() / 256 }

// attemptCtx returns a context derived from ctx that ends by dl and, if
// dl is no sooner than now + attemptTimeout - deadlineGrain, no more than
// deadlineGrain before it. A cancel it returns must be called when the
// attempt is over; a shared context comes without one.
func (c *Client) attemptCtx(ctx context.Context, now, dl time.Time) (context.Context, context.CancelFunc) {
	done := ctx.Done()
	oldest := now.Add(c.attemptTimeout() - c.deadlineGrain()) // the soonest a shared deadline may be
	s := c.sharedDL.Load()
	if s != nil && s.done == done && s.dl.After(oldest) && !s.dl.After(dl) {
		return s.ctx, nil
	}
	if (s != nil && s.dl.After(oldest)) || dl.Before(now.Add(c.attemptTimeout())) {
		// The shared context is current but another caller's, or this
		// attempt must end sooner than attempts usually do (the call's
		// deadline comes first): one of its own. Replacing the shared
		// one here would leave one live timer per attempt.
		return context.WithDeadline(ctx, dl)
	}
	parent := ctx
	if done == nil {
		// Never cancelled: derive from the Client's context, so that
		// Close releases the timer at once. rueidis's Do reads no values
		// from the context, so which caller's those are does not matter.
		parent = c.ctx
	}
	ns := &sharedDeadline{done: done, dl: dl}
	ns.ctx, ns.cancel = context.WithDeadline(parent, dl)
	if !c.sharedDL.CompareAndSwap(s, ns) {
		// Another attempt replaced it first: use this one alone.
		return ns.ctx, ns.cancel
	}
	return ns.ctx, nil
}
