//go:build unix

package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/sessionraft/sessionraft/client"
)

// seeds returns the cluster's client addresses: $SESSIONRAFT_SEEDS, or the
// cluster `sessionraft dev` starts.
func seeds() []string {
	if s := os.Getenv("SESSIONRAFT_SEEDS"); s != "" {
		return strings.Split(s, ",")
	}
	return []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}
}

func ExampleNew() {
	ctx := context.Background()
	c, err := client.New(ctx, client.Config{
		Seeds:          seeds(), // any of them may be down
		RequestTimeout: 3 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	s, err := c.Create(ctx, client.WithSubject("alice"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Subject)
	// Output: alice
}

func ExampleClient_Create() {
	ctx := context.Background()
	c, err := client.New(ctx, client.Config{Seeds: seeds()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// A login session: gone an hour from now at the latest, or after 30
	// minutes without a request.
	s, err := c.Create(ctx,
		client.WithSubject("alice"),
		client.WithTTL(time.Hour),
		client.WithIdleTimeout(30*time.Minute),
		client.WithField("cart", []byte("3")),
		client.WithFields(map[string][]byte{"theme": []byte("dark")}),
	)
	if err != nil {
		log.Fatal(err)
	}
	cart, _ := s.Int("cart")
	theme, _ := s.String("theme")
	fmt.Println(len(s.ID), cart, theme, s.AbsoluteDeadline.Sub(s.Created))
	// Output: 22 3 dark 1h0m0s
}

func ExampleClient_Get() {
	ctx := context.Background()
	c, err := client.New(ctx, client.Config{Seeds: seeds()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	s, err := c.Create(ctx, client.WithField("theme", []byte("dark")))
	if err != nil {
		log.Fatal(err)
	}

	// Linearizable (the default): sees every acknowledged write.
	got, err := c.Get(ctx, s.ID)
	if err != nil {
		log.Fatal(err)
	}
	theme, _ := got.String("theme")
	fmt.Println(theme)

	// Leader: no quorum round; WithoutTouch: not an access for the idle timeout.
	if _, err := c.Get(ctx, s.ID, client.WithConsistency(client.Leader), client.WithoutTouch()); err != nil {
		log.Fatal(err)
	}

	_, err = c.Get(ctx, "no-such-session")
	fmt.Println(errors.Is(err, client.ErrNotFound))
	// Output:
	// dark
	// true
}

func ExampleClient_Set() {
	ctx := context.Background()
	c, err := client.New(ctx, client.Config{Seeds: seeds()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	s, err := c.Create(ctx, client.WithField("cart", []byte("3")))
	if err != nil {
		log.Fatal(err)
	}

	// Compare-and-set: write only if no one changed the session since it was read.
	v, err := c.Set(ctx, s.ID, map[string][]byte{"cart": []byte("4")}, client.IfVersion(s.Version))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v > s.Version)

	_, err = c.Set(ctx, s.ID, map[string][]byte{"cart": []byte("5")}, client.IfVersion(s.Version))
	fmt.Println(errors.Is(err, client.ErrConflict))

	// Remove a field and extend the absolute deadline in one write.
	if _, err := c.Unset(ctx, s.ID, []string{"cart"}, client.WithTTL(2*time.Hour)); err != nil {
		log.Fatal(err)
	}
	// Output:
	// true
	// true
}

func ExampleClient_Rotate() {
	ctx := context.Background()
	c, err := client.New(ctx, client.Config{Seeds: seeds()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	s, err := c.Create(ctx, client.WithSubject("bob"))
	if err != nil {
		log.Fatal(err)
	}

	// After login: a new id for the same session, against session fixation.
	newID, err := c.Rotate(ctx, s.ID)
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Get(ctx, s.ID)
	fmt.Println(newID != s.ID, errors.Is(err, client.ErrNotFound))
	// Output: true true
}

func ExampleClient_Revoke() {
	ctx := context.Background()
	c, err := client.New(ctx, client.Config{Seeds: seeds()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	subject := "dana"
	var current *client.Session
	for range 3 { // dana logs in on three devices
		if current, err = c.Create(ctx, client.WithSubject(subject)); err != nil {
			log.Fatal(err)
		}
	}
	list, err := c.List(ctx, subject)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(list), "sessions")

	// "Log out everywhere else".
	n, err := c.Revoke(ctx, subject, client.WithExcept(current.ID))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, "revoked")

	// Log out: destroy the last one.
	n, err = c.Destroy(ctx, current.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, "destroyed")
	// Output:
	// 3 sessions
	// 2 revoked
	// 1 destroyed
}
