package httpsession

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/sessionraft/sessionraft/client"
)

// SessionInfo describes one of a user's sessions, for an "active sessions"
// page. It deliberately carries no session id: an id is a bearer
// credential, and a page that lists them would hand every device's login
// to whoever can read the page. Ref names the session instead.
type SessionInfo struct {
	// Ref is an opaque handle for RevokeSession, safe to put in a page.
	Ref string
	// IDPrefix is the first few characters of the id, for display.
	IDPrefix string
	// Current: this is the session of the request.
	Current bool

	Created          time.Time
	LastAccess       time.Time // as of the server's last touch flush
	AbsoluteDeadline time.Time // zero if none
	ExpiresAt        time.Time // the earlier of the idle and absolute deadlines; zero if never
}

// ref is a session's non-secret handle: a truncated hash of its id.
func ref(id string) string {
	h := sha256.Sum256([]byte("httpsession ref\x00" + id))
	return hex.EncodeToString(h[:12])
}

const idPrefixLen = 6

// Sessions lists the sessions of the session's subject (client.List over
// every group): the current one first, then the most recently used. It is
// empty for an anonymous session.
func (s *Session) Sessions() ([]SessionInfo, error) {
	s.mu.Lock()
	subject, current := s.storedSubjectLocked(), s.id
	s.mu.Unlock()
	if subject == "" {
		return nil, nil
	}
	recs, err := s.m.cfg.Client.List(s.ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("httpsession: list sessions: %w", err)
	}
	out := make([]SessionInfo, 0, len(recs))
	for _, r := range recs {
		out = append(out, SessionInfo{
			Ref:              ref(r.ID),
			IDPrefix:         r.ID[:min(idPrefixLen, len(r.ID))],
			Current:          r.ID == current,
			Created:          r.Created,
			LastAccess:       r.LastAccess,
			AbsoluteDeadline: r.AbsoluteDeadline,
			ExpiresAt:        r.ExpiresAt,
		})
	}
	slices.SortStableFunc(out, func(a, b SessionInfo) int {
		switch {
		case a.Current != b.Current:
			if a.Current {
				return -1
			}
			return 1
		case !a.LastAccess.Equal(b.LastAccess):
			return b.LastAccess.Compare(a.LastAccess)
		}
		return b.Created.Compare(a.Created)
	})
	return out, nil
}

// storedSubjectLocked is the subject of the stored session: the one that
// List and Revoke can find.
func (s *Session) storedSubjectLocked() string {
	if s.rec != nil {
		return s.rec.Subject
	}
	return ""
}

// RevokeSession destroys the session of the same subject that ref (from
// Sessions) names: "sign out that device". It reports whether one was
// found. Revoking the current session is Destroy.
func (s *Session) RevokeSession(r string) (bool, error) {
	s.mu.Lock()
	subject, current := s.storedSubjectLocked(), s.id
	s.mu.Unlock()
	if subject == "" || r == "" {
		return false, nil
	}
	recs, err := s.m.cfg.Client.List(s.ctx, subject)
	if err != nil {
		return false, fmt.Errorf("httpsession: list sessions: %w", err)
	}
	for _, rec := range recs {
		if ref(rec.ID) != r {
			continue
		}
		if rec.ID == current {
			return true, s.Destroy()
		}
		n, err := s.m.cfg.Client.Destroy(context.WithoutCancel(s.ctx), rec.ID)
		if err != nil {
			return false, fmt.Errorf("httpsession: revoke session: %w", err)
		}
		return n > 0, nil
	}
	return false, nil
}

// RevokeAll destroys every session of the session's subject, in all
// groups (client.Revoke): "log out everywhere". With exceptCurrent the
// current session survives ("log out all other devices"); without it the
// current session ends too and its cookie is cleared. It returns the
// number of sessions destroyed, and does nothing for an anonymous session.
func (s *Session) RevokeAll(exceptCurrent bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	subject := s.storedSubjectLocked()
	if subject == "" {
		return 0, nil
	}
	var opts []client.Option
	if exceptCurrent {
		opts = append(opts, client.WithExcept(s.id))
	}
	n, err := s.m.cfg.Client.Revoke(context.WithoutCancel(s.ctx), subject, opts...)
	if err != nil {
		return n, fmt.Errorf("httpsession: revoke all: %w", err)
	}
	if !exceptCurrent {
		s.forgetLocked()
		s.sets, s.dels = nil, nil
		s.subject, s.subjectSet = "", false
	}
	return n, nil
}
