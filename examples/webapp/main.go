// Command webapp is a small web shop that keeps its sessions in a
// sessionraft cluster through client/httpsession: log in (any user name;
// there are no passwords in this example, do not copy that part), fill a
// cart, see your active sessions, sign out one of them or all of them.
//
// Start a dev cluster, then the app, then open http://localhost:8080:
//
//	go run ./cmd/sessionraft dev
//	go run ./examples/webapp -addr :8080 -seeds 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003
//
// Log in from two browsers (or a private window) as the same user to see
// two sessions on the sessions page.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sessionraft/sessionraft/client"
)

func main() {
	addr := flag.String("addr", ":8080", "HTTP listen address")
	seeds := flag.String("seeds", "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003", "client addresses of sessionraft nodes, comma-separated")
	insecure := flag.Bool("insecure-cookie", false, "send the session cookie without Secure, for plain http on hosts other than localhost (browsers accept Secure cookies from http://localhost)")
	flag.Parse()
	if err := run(*addr, strings.Split(*seeds, ","), *insecure); err != nil {
		fmt.Fprintln(os.Stderr, "webapp:", err)
		os.Exit(1)
	}
}

func run(addr string, seeds []string, insecure bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, err := client.New(dialCtx, client.Config{Seeds: seeds})
	cancel()
	if err != nil {
		return fmt.Errorf("connect to sessionraft at %s (is `sessionraft dev` running?): %w", strings.Join(seeds, ","), err)
	}
	defer c.Close()

	h, err := newApp(c, appConfig{insecureCookie: insecure})
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	slog.Info("webapp listening", "addr", addr, "seeds", seeds)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
