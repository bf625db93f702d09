// Package httpsession is net/http middleware that keeps web sessions in a
// sessionraft cluster.
//
// Wrap a handler with a Manager and reach the request's session with
// FromContext:
//
//	c, err := client.New(ctx, client.Config{Seeds: []string{"127.0.0.1:7001"}})
//	...
//	m, err := httpsession.New(httpsession.Config{Client: c})
//	...
//	mux.HandleFunc("POST /cart", func(w http.ResponseWriter, r *http.Request) {
//		s := httpsession.FromContext(r.Context())
//		s.Set("cart:coffee", "2")
//	})
//	http.ListenAndServe(":8080", m.Handler(mux))
//
// # Request life cycle
//
// When a request carries the session cookie, the middleware reads that
// session (client.Get with the client's default consistency) before the
// handler runs. A session that is missing or has expired is treated as no
// session, and its cookie is cleared. A store error at this point goes to
// Config.ErrorHandler and the handler does not run.
//
// A visitor without a session gets one only when a handler first writes to
// it (Set, Delete on nothing does not count, SetSubject): requests that only
// read create nothing and set no cookie.
//
// Changes are saved when the handler writes the response status (the first
// WriteHeader, Write or Flush), so that the cookie of a new or rotated
// session can still go into the headers, and again when the handler returns
// for changes made after that. Only the changed fields are written: a Set
// becomes client.Set of those fields and a Delete becomes client.Unset, never
// a write of the whole map. Two concurrent requests of one user that change
// different fields therefore both keep their change. (Two requests that
// change the same field: the later write wins.)
//
// # Cookies
//
// The cookie holds only the session id. Defaults are the secure ones:
// HttpOnly, Secure, SameSite=Lax, Path=/, and Expires/Max-Age at the
// session's absolute deadline (Config.TTL after creation). Config can relax
// Secure for development over plain http (DisableSecure).
//
// # Expiry and idle touches
//
// Sessions expire at an absolute deadline (Config.TTL) and after
// Config.IdleTimeout without access. The middleware does not write per
// request to keep the idle deadline moving: the read at the start of each
// request counts as an access, and the sessionraft server buffers accesses
// per node and flushes them to the raft leaders as one batch per interval
// (the server's --touch-interval, 500ms by default), which is also the
// precision of idle expiry.
//
// # Privilege changes
//
// Call SetSubject when a user logs in, then Rotate (or RenewID): the
// session gets a new id so that an id planted before login (session
// fixation) is worthless after it. Because a session's subject is fixed when
// it is created, giving an existing session a different subject replaces it
// by a new session with the same fields and the new subject; the old one is
// destroyed. Destroy logs out; RevokeAll logs the subject out everywhere
// (optionally except here); Sessions and RevokeSession drive an "active
// sessions" page.
package httpsession
