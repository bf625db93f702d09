package httpsession_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/sessionraft/sessionraft/client"
	"github.com/sessionraft/sessionraft/client/httpsession"
)

// A web service that keeps its sessions in a sessionraft cluster (the one
// "sessionraft dev" starts): a cart that works before login, login that
// rotates the session id, and logout.
func Example() {
	c, err := client.New(context.Background(), client.Config{
		Seeds: []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	sessions, err := httpsession.New(httpsession.Config{Client: c})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s := httpsession.FromContext(r.Context())
		cart, _ := s.Get("cart")
		fmt.Fprintf(w, "hello %q, your cart: %q\n", s.Subject(), cart)
	})
	mux.HandleFunc("POST /cart", func(w http.ResponseWriter, r *http.Request) {
		// The first write creates the session; only changed fields are saved.
		httpsession.FromContext(r.Context()).Set("cart", r.FormValue("items"))
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := httpsession.FromContext(r.Context())
		s.SetSubject(r.FormValue("user"))  // after checking the password
		if err := s.Rotate(); err != nil { // new id: no session fixation
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := httpsession.FromContext(r.Context()).Destroy(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	log.Fatal(http.ListenAndServe(":8080", sessions.Handler(mux)))
}
