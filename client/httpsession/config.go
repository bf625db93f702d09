package httpsession

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/sessionraft/sessionraft/client"
)

// Config configures a Manager. Only Client is required; zero values take
// the documented defaults.
type Config struct {
	// Client talks to the cluster, usually a *client.Client. Required.
	Client Client

	// CookieName is the name of the session cookie. Default "sessionraft".
	CookieName string
	// Path and Domain of the cookie. Path defaults to "/"; Domain to none
	// (the cookie goes back only to the host that set it).
	Path   string
	Domain string
	// DisableSecure leaves the Secure attribute off, so that the browser
	// also sends the cookie over plain http. Only for development: browsers
	// accept Secure cookies from http://localhost, but other hosts over
	// plain http need this.
	DisableSecure bool
	// DisableHTTPOnly lets page scripts read the cookie. Almost never wanted.
	DisableHTTPOnly bool
	// SameSite of the cookie. Default http.SameSiteLaxMode.
	SameSite http.SameSite

	// TTL is a session's absolute lifetime from its creation; the cookie
	// expires then too. Default 24h; negative: no absolute limit (the cookie
	// then lasts for the browser session).
	TTL time.Duration
	// IdleTimeout ends a session that has not been used for this long.
	// Default 30m; negative: no idle limit.
	IdleTimeout time.Duration

	// ErrorHandler is called when the session store fails: loading the
	// session before the handler runs (the handler is then not called), or
	// saving it when the response status is written (the handler's
	// response is then discarded). w can still send a response in those
	// cases. When a save after the response was sent fails, err wraps
	// ErrHeadersWritten and w can no longer change anything. Default: log
	// with Logger and reply 503 Service Unavailable (store unavailable) or
	// 500 Internal Server Error.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Logger for the default ErrorHandler. Default slog.Default().
	Logger *slog.Logger
}

const (
	defaultCookieName  = "sessionraft"
	defaultTTL         = 24 * time.Hour
	defaultIdleTimeout = 30 * time.Minute
)

// ErrHeadersWritten is wrapped by errors about session changes that need a
// cookie (a new session, a rotated id) made after the response headers
// were sent.
var ErrHeadersWritten = errors.New("httpsession: response headers already written")

// Manager is the middleware. It is safe for concurrent use.
type Manager struct {
	cfg Config
}

// New checks cfg, fills in the defaults and returns a Manager.
func New(cfg Config) (*Manager, error) {
	if c, isClient := cfg.Client.(*client.Client); cfg.Client == nil || isClient && c == nil {
		return nil, errors.New("httpsession: Config.Client is required")
	}
	if cfg.CookieName == "" {
		cfg.CookieName = defaultCookieName
	}
	if (&http.Cookie{Name: cfg.CookieName, Value: "x"}).Valid() != nil {
		return nil, errors.New("httpsession: Config.CookieName is not a valid cookie name")
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	if cfg.SameSite == 0 {
		cfg.SameSite = http.SameSiteLaxMode
	}
	if cfg.SameSite == http.SameSiteNoneMode && cfg.DisableSecure {
		return nil, errors.New("httpsession: SameSite=None needs Secure cookies")
	}
	switch {
	case cfg.TTL == 0:
		cfg.TTL = defaultTTL
	case cfg.TTL < 0:
		cfg.TTL = 0
	}
	switch {
	case cfg.IdleTimeout == 0:
		cfg.IdleTimeout = defaultIdleTimeout
	case cfg.IdleTimeout < 0:
		cfg.IdleTimeout = 0
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Manager{cfg: cfg}
	if cfg.ErrorHandler == nil {
		m.cfg.ErrorHandler = m.defaultErrorHandler
	}
	return m, nil
}

func (m *Manager) defaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	m.cfg.Logger.Error("httpsession: session store failed", "method", r.Method, "path", r.URL.Path, "err", err)
	if errors.Is(err, ErrHeadersWritten) {
		return
	}
	if errors.Is(err, client.ErrUnavailable) {
		http.Error(w, "session store unavailable, try again", http.StatusServiceUnavailable)
		return
	}
	http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
}

// cookie returns the session cookie for id, expiring at deadline (zero: at
// the end of the browser session).
func (m *Manager) cookie(id string, deadline time.Time) *http.Cookie {
	c := &http.Cookie{
		Name:     m.cfg.CookieName,
		Value:    id,
		Path:     m.cfg.Path,
		Domain:   m.cfg.Domain,
		Secure:   !m.cfg.DisableSecure,
		HttpOnly: !m.cfg.DisableHTTPOnly,
		SameSite: m.cfg.SameSite,
	}
	if !deadline.IsZero() {
		c.Expires = deadline.UTC()
		c.MaxAge = max(1, int((time.Until(deadline)+time.Second-1)/time.Second))
	}
	return c
}

// expiredCookie tells the browser to drop the session cookie.
func (m *Manager) expiredCookie() *http.Cookie {
	c := m.cookie("", time.Time{})
	c.MaxAge = -1
	c.Expires = time.Unix(1, 0).UTC()
	return c
}

// createOptions are the per-session options of a new session.
func (m *Manager) createOptions(subject string, fields map[string][]byte) []client.Option {
	opts := []client.Option{client.WithFields(fields)}
	if subject != "" {
		opts = append(opts, client.WithSubject(subject))
	}
	if m.cfg.TTL > 0 {
		opts = append(opts, client.WithTTL(m.cfg.TTL))
	}
	if m.cfg.IdleTimeout > 0 {
		opts = append(opts, client.WithIdleTimeout(m.cfg.IdleTimeout))
	}
	return opts
}
