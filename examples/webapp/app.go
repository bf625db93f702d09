package main

import (
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sessionraft/sessionraft/client/httpsession"
)

//go:embed templates/*.html
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Local().Format("2006-01-02 15:04:05")
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
}).ParseFS(templateFS, "templates/*.html"))

// catalog is what the shop sells. Cart lines are session fields named
// "cart:<item>" holding the quantity.
var catalog = []string{"apples", "bread", "coffee", "milk", "tea"}

const cartPrefix = "cart:"

type appConfig struct {
	insecureCookie bool
}

type app struct {
	sessions *httpsession.Manager
}

// newApp returns the web app's handler: routes, session middleware and
// cross-origin protection for the forms.
func newApp(c httpsession.Client, cfg appConfig) (http.Handler, error) {
	m, err := httpsession.New(httpsession.Config{
		Client:        c,
		DisableSecure: cfg.insecureCookie,
		TTL:           12 * time.Hour,
		IdleTimeout:   30 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	a := &app{sessions: m}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("POST /cart/add", a.cartAdd)
	mux.HandleFunc("POST /cart/remove", a.cartRemove)
	mux.HandleFunc("GET /sessions", a.sessionsPage)
	mux.HandleFunc("POST /sessions/revoke", a.revokeOne)
	mux.HandleFunc("POST /sessions/revoke-others", a.revokeOthers)
	mux.HandleFunc("POST /sessions/revoke-all", a.revokeAll)
	// The session cookie is SameSite=Lax, so browsers do not send it with
	// cross-site form posts; CrossOriginProtection also refuses those
	// posts outright (Sec-Fetch-Site / Origin checks).
	return http.NewCrossOriginProtection().Handler(m.Handler(mux)), nil
}

type cartLine struct {
	Item string
	Qty  int
}

func cartOf(s *httpsession.Session) []cartLine {
	var lines []cartLine
	for _, name := range s.Names() {
		item, ok := strings.CutPrefix(name, cartPrefix)
		if !ok {
			continue
		}
		v, _ := s.Get(name)
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			lines = append(lines, cartLine{Item: item, Qty: n})
		}
	}
	return lines
}

func (a *app) render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := templates.ExecuteTemplate(w, name, data); err != nil {
		slog.Error("render", "template", name, "err", err)
	}
}

func serverError(w http.ResponseWriter, err error) {
	slog.Error("request failed", "err", err)
	http.Error(w, "something went wrong: "+err.Error(), http.StatusInternalServerError)
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	s := httpsession.FromContext(r.Context())
	a.render(w, "home.html", map[string]any{
		"User":    s.Subject(),
		"Session": s.ID(),
		"Cart":    cartOf(s),
		"Catalog": catalog,
	})
}

// validUser accepts any short printable name: there is no user database
// and no password in this example. A real service checks credentials here.
func validUser(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	user := strings.TrimSpace(r.FormValue("username"))
	if !validUser(user) {
		http.Error(w, "user name: 1 to 64 printable characters", http.StatusBadRequest)
		return
	}
	s := httpsession.FromContext(r.Context())
	s.SetSubject(user)
	// New id on login: an id planted or seen before login is worthless now.
	// The cart filled before login comes along.
	if err := s.Rotate(); err != nil {
		serverError(w, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if err := httpsession.FromContext(r.Context()).Destroy(); err != nil {
		serverError(w, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) cartAdd(w http.ResponseWriter, r *http.Request) {
	item := r.FormValue("item")
	if !slices.Contains(catalog, item) {
		http.Error(w, "no such item", http.StatusBadRequest)
		return
	}
	s := httpsession.FromContext(r.Context())
	v, _ := s.Get(cartPrefix + item)
	n, _ := strconv.Atoi(v)
	s.Set(cartPrefix+item, strconv.Itoa(n+1)) // only this field is written
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) cartRemove(w http.ResponseWriter, r *http.Request) {
	item := r.FormValue("item")
	s := httpsession.FromContext(r.Context())
	v, ok := s.Get(cartPrefix + item)
	if n, _ := strconv.Atoi(v); ok && n > 1 {
		s.Set(cartPrefix+item, strconv.Itoa(n-1))
	} else if ok {
		s.Delete(cartPrefix + item)
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) sessionsPage(w http.ResponseWriter, r *http.Request) {
	s := httpsession.FromContext(r.Context())
	if s.Subject() == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	list, err := s.Sessions()
	if err != nil {
		serverError(w, err)
		return
	}
	a.render(w, "sessions.html", map[string]any{
		"User":     s.Subject(),
		"Sessions": list,
		"Revoked":  r.URL.Query().Get("revoked"),
	})
}

func (a *app) revokeOne(w http.ResponseWriter, r *http.Request) {
	s := httpsession.FromContext(r.Context())
	ok, err := s.RevokeSession(r.FormValue("ref"))
	if err != nil {
		serverError(w, err)
		return
	}
	if !s.Exists() { // that was this session: logged out
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	n := 0
	if ok {
		n = 1
	}
	http.Redirect(w, r, "/sessions?revoked="+strconv.Itoa(n), http.StatusSeeOther)
}

func (a *app) revokeOthers(w http.ResponseWriter, r *http.Request) {
	n, err := httpsession.FromContext(r.Context()).RevokeAll(true)
	if err != nil {
		serverError(w, err)
		return
	}
	http.Redirect(w, r, "/sessions?revoked="+strconv.Itoa(n), http.StatusSeeOther)
}

// revokeAll is "log out everywhere": every session of the user, this one
// included.
func (a *app) revokeAll(w http.ResponseWriter, r *http.Request) {
	if _, err := httpsession.FromContext(r.Context()).RevokeAll(false); err != nil {
		serverError(w, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
