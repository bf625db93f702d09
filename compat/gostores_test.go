package compat

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/boj/redistore"
	"github.com/gomodule/redigo/redis"
	"github.com/gorilla/sessions"
	goredis "github.com/redis/go-redis/v9"
)

// goStores are the Go stores, run inside the test process with real
// net/http servers (httptest, on loopback) and cookie-carrying clients.
func goStores() []sessionStore {
	none := func() string { return "" }
	return []sessionStore{
		{name: "scs-redisstore-redigo", skip: none, run: runSCSRedigo},
		{name: "scs-goredisstore-go-redis-v9", skip: none, run: runSCSGoRedis},
		{name: "gorilla-sessions-boj-redistore", skip: none, run: runGorilla},
	}
}

// redigoPool is the pool an application gives redigo-based stores: one
// address, redigo's defaults otherwise (no retries).
func redigoPool(t *testing.T, addr string) *redis.Pool {
	t.Helper()
	p := &redis.Pool{
		MaxIdle:     4,
		IdleTimeout: time.Minute,
		Dial:        func() (redis.Conn, error) { return redis.Dial("tcp", addr) },
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func runSCSRedigo(t *testing.T, r storeRun) string {
	return checkGoApp(t, r, scsApp(redisstore.NewWithPrefix(redigoPool(t, r.Addr), r.Prefix), r.Prefix))
}

func runSCSGoRedis(t *testing.T, r storeRun) string {
	rdb := goredis.NewClient(&goredis.Options{Addr: r.Addr}) // go-redis's defaults: RESP3, 3 retries
	t.Cleanup(func() { rdb.Close() })
	return checkGoApp(t, r, scsApp(goredisstore.NewWithPrefix(rdb, r.Prefix), r.Prefix))
}

// scsApp is the application on scs: a lifetime of an hour and an idle
// timeout of 60 s, so every request commits the session again with a new
// expiry (MULTI SET PEXPIREAT EXEC with redisstore, SET PX with
// goredisstore).
func scsApp(store scs.Store, prefix string) goApp {
	sm := scs.New() // its default memstore's cleanup goroutine outlives it (main_test.go)
	sm.Store = store
	sm.Lifetime = time.Hour
	sm.IdleTimeout = 60 * time.Second
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		http.Error(w, "session store: "+err.Error(), http.StatusInternalServerError)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if err := sm.RenewToken(ctx); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		sm.Put(ctx, "user", r.URL.Query().Get("user"))
		sm.Put(ctx, "count", 0)
		if s := r.URL.Query().Get("s"); s != "" {
			n, _ := strconv.Atoi(s)
			sm.SetDeadline(ctx, time.Now().Add(time.Duration(n)*time.Second))
		}
		writeJSON(w, map[string]bool{"ok": true})
	})
	mux.HandleFunc("POST /incr", func(w http.ResponseWriter, r *http.Request) {
		n := sm.GetInt(r.Context(), "count") + 1
		sm.Put(r.Context(), "count", n)
		writeJSON(w, map[string]int{"count": n})
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		writeJSON(w, meReply{User: sm.GetString(ctx, "user"), Count: sm.GetInt(ctx, "count"), ID: sm.Token(ctx)})
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := sm.Destroy(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]bool{"ok": true})
	})
	return goApp{
		handler: sm.LoadAndSave(mux),
		key:     func(id string) string { return prefix + id },
		all: func(ctx context.Context) ([]string, error) {
			var ids []string
			err := sm.Iterate(ctx, func(ctx context.Context) error {
				ids = append(ids, sm.Token(ctx))
				return nil
			})
			return ids, err
		},
	}
}

// runGorilla is the application on gorilla/sessions with boj/redistore
// (redigo): SETEX on every save, so saving on each request is the touch.
func runGorilla(t *testing.T, r storeRun) string {
	store, err := redistore.NewRediStoreWithPool(redigoPool(t, r.Addr), []byte("compat-test-secret-0123456789abc"))
	if err != nil {
		t.Fatal(err)
	}
	store.SetKeyPrefix(r.Prefix)
	store.SetMaxAge(60)
	const name = "sid"
	fail := func(w http.ResponseWriter, err error) {
		http.Error(w, "session store: "+err.Error(), http.StatusInternalServerError)
	}
	save := func(s *sessions.Session, r *http.Request, w http.ResponseWriter) error {
		if age, ok := s.Values["maxage"].(int); ok {
			s.Options.MaxAge = age
		}
		return s.Save(r, w) // SETEX prefix+id MaxAge
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s, _ := store.New(r, name) // a fresh session: ignore the old cookie
		s.Values["user"] = r.URL.Query().Get("user")
		s.Values["count"] = 0
		if v := r.URL.Query().Get("s"); v != "" {
			// gorilla keeps a session's MaxAge only in its cookie:
			// remember it in the session so every save applies it.
			s.Values["maxage"], _ = strconv.Atoi(v)
		}
		if err := save(s, r, w); err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, map[string]bool{"ok": true})
	})
	mux.HandleFunc("POST /incr", func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, name)
		if err != nil {
			fail(w, err)
			return
		}
		n, _ := s.Values["count"].(int)
		s.Values["count"] = n + 1
		if err := save(s, r, w); err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, map[string]int{"count": n + 1})
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, name)
		if err != nil {
			fail(w, err)
			return
		}
		user, _ := s.Values["user"].(string)
		n, _ := s.Values["count"].(int)
		if user != "" { // slide the expiry of a logged-in session
			if err := save(s, r, w); err != nil {
				fail(w, err)
				return
			}
		}
		writeJSON(w, meReply{User: user, Count: n, ID: s.ID})
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, name)
		if err != nil {
			fail(w, err)
			return
		}
		s.Options.MaxAge = -1 // gorilla's way to delete: DEL
		if err := s.Save(r, w); err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, map[string]bool{"ok": true})
	})
	return checkGoApp(t, r, goApp{handler: mux, key: func(id string) string { return r.Prefix + id }})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// redistore is a gorilla/sessions store, which is how applications use it.
var _ sessions.Store = (*redistore.RediStore)(nil)
