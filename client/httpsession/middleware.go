package httpsession

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/sessionraft/sessionraft/client"
)

type ctxKey struct{}

// FromContext returns the session of the request whose context is ctx, or
// nil when the request did not pass through a Manager's Handler.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(ctxKey{}).(*Session)
	return s
}

// RenewID gives the request's session a new id (see Session.Rotate). Call it
// when the user's privileges change, at login above all.
func RenewID(ctx context.Context) error {
	s := FromContext(ctx)
	if s == nil {
		return errors.New("httpsession: no session in context (is the handler wrapped by Manager.Handler?)")
	}
	return s.Rotate()
}

// maxIDLen bounds the cookie values sent to the store; longer ones cannot be
// session ids (the server's default --max-id-len is 512).
const maxIDLen = 256

// Handler returns middleware that loads the request's session before next
// runs and saves its changes when next writes the response status (and,
// for any later changes, when next returns).
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &Session{m: m, ctx: r.Context()}
		if ck, err := r.Cookie(m.cfg.CookieName); err == nil && ck.Value != "" {
			if err := s.load(ck.Value); err != nil {
				m.cfg.ErrorHandler(w, r, fmt.Errorf("httpsession: load session: %w", err))
				return
			}
		}
		sw := &responseWriter{ResponseWriter: w, s: s, m: m, r: r}
		s.w = sw
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, s))
		next.ServeHTTP(sw, r)
		if !sw.wroteHeader {
			// The handler wrote nothing: net/http will send 200 with our
			// headers once we return.
			sw.beforeHeader()
			return
		}
		if sw.failed {
			return
		}
		if err := s.save(false); err != nil {
			m.cfg.ErrorHandler(sw.ResponseWriter, r, fmt.Errorf("httpsession: save session: %w", err))
		}
	})
}

// load reads the session named by a cookie. A session that does not exist
// (or never could: an id over the length limit) is no session, and its
// cookie is cleared.
func (s *Session) load(id string) error {
	if len(id) > maxIDLen {
		s.cookie = s.m.expiredCookie()
		return nil
	}
	rec, err := s.m.cfg.Client.Get(s.ctx, id)
	switch {
	case err == nil:
		s.id, s.rec = rec.ID, rec
		return nil
	case errors.Is(err, client.ErrNotFound), errors.Is(err, client.ErrTooLarge): // too long to be an id
		s.cookie = s.m.expiredCookie()
		return nil
	default:
		return err
	}
}

// responseWriter saves the session just before the response status goes
// out, so that a new cookie can still be set. It passes everything else
// through; http.ResponseController reaches the underlying writer's other
// features (hijacking, deadlines) through Unwrap.
type responseWriter struct {
	http.ResponseWriter
	s           *Session
	m           *Manager
	r           *http.Request
	wroteHeader bool
	failed      bool // the save failed and ErrorHandler answered instead
}

// beforeHeader saves the session once, before the status is written. If
// that fails, ErrorHandler answers and the handler's output is dropped.
func (w *responseWriter) beforeHeader() {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	if err := w.s.save(true); err != nil {
		w.failed = true
		w.m.cfg.ErrorHandler(w.ResponseWriter, w.r, fmt.Errorf("httpsession: save session: %w", err))
	}
}

func (w *responseWriter) WriteHeader(code int) {
	if code < 200 && code != http.StatusSwitchingProtocols {
		// Informational (1xx) responses come before the real one.
		if !w.wroteHeader {
			w.ResponseWriter.WriteHeader(code)
		}
		return
	}
	if w.wroteHeader {
		if !w.failed {
			w.ResponseWriter.WriteHeader(code) // let net/http report the superfluous call
		}
		return
	}
	w.beforeHeader()
	if !w.failed {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *responseWriter) Write(b []byte) (int, error) {
	w.beforeHeader()
	if w.failed {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends buffered data to the client; it writes the status first.
func (w *responseWriter) Flush() {
	w.beforeHeader()
	if w.failed {
		return
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap is for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
