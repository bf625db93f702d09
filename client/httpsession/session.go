package httpsession

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/sessionraft/sessionraft/client"
)

// Session is one request's handle on its session. Reads see the stored
// fields as loaded at the start of the request, overlaid with this
// request's own changes. Its methods are safe for concurrent use by the
// request's goroutines; a Session must not outlive its request.
type Session struct {
	m   *Manager
	ctx context.Context // the request's
	w   *responseWriter

	mu  sync.Mutex
	id  string          // stored session id; "" when there is none
	rec *client.Session // the stored record as loaded or created; nil iff id == ""

	sets map[string][]byte   // fields written by this request, not saved yet
	dels map[string]struct{} // fields deleted by this request, not saved yet

	subject    string // set by SetSubject
	subjectSet bool

	cookie *http.Cookie // to send with the response headers
}

// ID returns the session's id, or "" if the visitor has no stored session
// (yet: one is created when the response is written if this request wrote
// to it).
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// Exists reports whether a stored session is behind this handle.
func (s *Session) Exists() bool { return s.ID() != "" }

// Subject returns the user the session belongs to: the one given to
// SetSubject in this request, else the stored one ("" for anonymous).
func (s *Session) Subject() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subjectLocked()
}

func (s *Session) subjectLocked() string {
	if s.subjectSet {
		return s.subject
	}
	if s.rec != nil {
		return s.rec.Subject
	}
	return ""
}

// Get returns a field as a string.
func (s *Session) Get(name string) (string, bool) {
	b, ok := s.GetBytes(name)
	return string(b), ok
}

// GetBytes returns a field. The slice must not be modified.
func (s *Session) GetBytes(name string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.dels[name]; ok {
		return nil, false
	}
	if v, ok := s.sets[name]; ok {
		return v, true
	}
	if s.rec != nil {
		v, ok := s.rec.Fields[name]
		return v, ok
	}
	return nil, false
}

// Names returns the names of the session's fields, sorted.
func (s *Session) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := map[string]struct{}{}
	if s.rec != nil {
		for k := range s.rec.Fields {
			names[k] = struct{}{}
		}
	}
	for k := range s.sets {
		names[k] = struct{}{}
	}
	for k := range s.dels {
		delete(names, k)
	}
	return slices.Sorted(maps.Keys(names))
}

// Set sets a field. It is saved, with the other changes of this request,
// when the response status is written; a visitor without a session gets
// one then.
func (s *Session) Set(name, value string) { s.SetBytes(name, []byte(value)) }

// SetBytes is Set with a byte value. The session keeps its own copy.
func (s *Session) SetBytes(name string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sets == nil {
		s.sets = map[string][]byte{}
	}
	s.sets[name] = append([]byte{}, value...)
	delete(s.dels, name)
}

// Delete removes a field (saved like Set).
func (s *Session) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sets, name)
	if s.rec == nil {
		return // nothing stored to delete
	}
	if s.dels == nil {
		s.dels = map[string]struct{}{}
	}
	s.dels[name] = struct{}{}
}

// SetSubject names the user the session belongs to, typically at login.
// A visitor without a session gets one with this subject when the response
// is written. A stored session with another subject (an anonymous one, or
// another user's) is replaced then by a new session, with a new id, the
// same fields and this subject, and the old one is destroyed; call Rotate
// to do that at once. Changes of the old session made by concurrent
// requests after this request loaded it are not carried over.
func (s *Session) SetSubject(subject string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subject, s.subjectSet = subject, true
}

// needsReplaceLocked reports whether SetSubject asked for a subject that
// the stored session does not have.
func (s *Session) needsReplaceLocked() bool {
	return s.rec != nil && s.subjectSet && s.subject != s.rec.Subject
}

// Rotate gives the session a new id with the same data, and the old id
// stops working at once (client.Rotate); the response carries the new
// cookie. Call it whenever the user's privileges change, at login above
// all, so that an id planted or seen before does not carry them. A pending
// SetSubject is applied now (by replacement, which also makes a new id).
// With no stored session Rotate does nothing: the session created for this
// request's changes gets a fresh id anyway. Rotate must be called before
// the response status is written.
func (s *Session) Rotate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.id == "" {
		return nil
	}
	if s.w != nil && s.w.wroteHeader {
		return fmt.Errorf("httpsession: rotate: %w", ErrHeadersWritten)
	}
	ctx := context.WithoutCancel(s.ctx)
	if s.needsReplaceLocked() {
		return s.replaceLocked(ctx)
	}
	newID, err := s.m.cfg.Client.Rotate(ctx, s.id)
	if errors.Is(err, client.ErrNotFound) {
		// Expired or revoked meanwhile: there is nothing left to carry
		// privileges; this request's changes go to a new session.
		s.forgetLocked()
		return nil
	}
	if err != nil {
		return fmt.Errorf("httpsession: rotate: %w", err)
	}
	rec := *s.rec
	rec.ID = newID
	s.id, s.rec = newID, &rec
	s.cookie = s.m.cookie(newID, s.deadlineLocked())
	return nil
}

// Destroy deletes the session from the store and clears its cookie:
// logout. Changes made before it in this request are dropped; changes made
// after it go to a new, anonymous session.
func (s *Session) Destroy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.id
	s.forgetLocked()
	s.sets, s.dels = nil, nil
	s.subject, s.subjectSet = "", false
	if id == "" {
		return nil
	}
	if _, err := s.m.cfg.Client.Destroy(context.WithoutCancel(s.ctx), id); err != nil {
		return fmt.Errorf("httpsession: destroy: %w", err)
	}
	return nil
}

// forgetLocked drops the stored session from this handle and clears the
// cookie (unless a new session replaces it by the end of the request).
func (s *Session) forgetLocked() {
	s.id, s.rec = "", nil
	s.dels = nil // nothing stored to delete from
	s.cookie = s.m.expiredCookie()
}

// save writes this request's changes to the store. canSetCookie says
// whether the response headers are still open; without it, changes that
// need a new cookie (a new session) are not made and an error wrapping
// ErrHeadersWritten is returned.
func (s *Session) save(canSetCookie bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx := context.WithoutCancel(s.ctx)
	err := s.saveLocked(ctx, canSetCookie)
	if canSetCookie && s.cookie != nil {
		http.SetCookie(s.w.ResponseWriter, s.cookie)
		s.cookie = nil
	}
	return err
}

func (s *Session) saveLocked(ctx context.Context, canSetCookie bool) error {
	if s.needsReplaceLocked() {
		if !canSetCookie {
			return fmt.Errorf("change of subject: %w", ErrHeadersWritten)
		}
		return s.replaceLocked(ctx)
	}
	if s.id == "" {
		if len(s.sets) == 0 && !(s.subjectSet && s.subject != "") {
			s.dels = nil
			return nil // nothing to store
		}
		if !canSetCookie {
			return fmt.Errorf("new session: %w", ErrHeadersWritten)
		}
		return s.createLocked(ctx, s.subject, s.sets)
	}
	if len(s.sets) > 0 {
		_, err := s.m.cfg.Client.Set(ctx, s.id, s.sets)
		if errors.Is(err, client.ErrNotFound) {
			// Expired, destroyed or revoked since the request began. The
			// changes go to a new session, which does not inherit the old
			// subject: a revoked login must stay revoked.
			s.forgetLocked()
			if !canSetCookie {
				return fmt.Errorf("session ended during the request, new session: %w", ErrHeadersWritten)
			}
			return s.createLocked(ctx, s.subject, s.sets)
		}
		if err != nil {
			return err
		}
		s.applyLocked(true)
	}
	if len(s.dels) > 0 {
		names := slices.Sorted(maps.Keys(s.dels))
		_, err := s.m.cfg.Client.Unset(ctx, s.id, names)
		if errors.Is(err, client.ErrNotFound) {
			s.forgetLocked()
			return nil // nothing left to delete from
		}
		if err != nil {
			return err
		}
		s.applyLocked(false)
	}
	return nil
}

// applyLocked folds saved sets (or deletions) into the handle's copy of
// the record and forgets them as pending.
func (s *Session) applyLocked(sets bool) {
	if s.rec != nil {
		rec := *s.rec
		rec.Fields = maps.Clone(rec.Fields)
		if rec.Fields == nil {
			rec.Fields = map[string][]byte{}
		}
		if sets {
			maps.Copy(rec.Fields, s.sets)
		} else {
			for k := range s.dels {
				delete(rec.Fields, k)
			}
		}
		s.rec = &rec
	}
	if sets {
		s.sets = nil
	} else {
		s.dels = nil
	}
}

// createLocked stores a new session with the given subject and fields and
// sets its cookie.
func (s *Session) createLocked(ctx context.Context, subject string, fields map[string][]byte) error {
	rec, err := s.m.cfg.Client.Create(ctx, s.m.createOptions(subject, fields)...)
	if err != nil {
		return err
	}
	s.id, s.rec = rec.ID, rec
	s.sets, s.dels = nil, nil
	s.subject, s.subjectSet = "", false
	s.cookie = s.m.cookie(rec.ID, s.deadlineLocked())
	return nil
}

// deadlineLocked is the stored session's absolute deadline, for its cookie.
func (s *Session) deadlineLocked() time.Time {
	d := s.rec.AbsoluteDeadline
	if d.IsZero() && s.m.cfg.TTL > 0 {
		// A Create resent after an unknown outcome returns no times; the
		// deadline is a moment before this.
		d = time.Now().Add(s.m.cfg.TTL)
	}
	return d
}

// replaceLocked moves the stored session to a new one with the requested
// subject: same fields plus this request's changes, a new id and a fresh
// lifetime. The old session is destroyed after the new one exists.
func (s *Session) replaceLocked(ctx context.Context) error {
	fields := maps.Clone(s.rec.Fields)
	if fields == nil {
		fields = map[string][]byte{}
	}
	maps.Copy(fields, s.sets)
	for k := range s.dels {
		delete(fields, k)
	}
	old := s.id
	if err := s.createLocked(ctx, s.subject, fields); err != nil {
		return err
	}
	if _, err := s.m.cfg.Client.Destroy(ctx, old); err != nil {
		return fmt.Errorf("destroy the session replaced by %s's: %w", s.rec.Subject, err)
	}
	return nil
}
