package main

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sessionraft/sessionraft/node"
)

// watchReload reloads the node's internal TLS certificates on every SIGHUP
// and logs the outcome: a bad file keeps the old certificates in use, so a
// rotation gone wrong is visible but harmless. It returns the function
// that stops watching.
func watchReload(n *node.Node, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-done:
				return
			case <-hup:
				if err := n.ReloadTLS(); err != nil {
					log.Error("SIGHUP: certificates not reloaded; the previous ones stay in use", "err", err)
				} else {
					log.Debug("SIGHUP: certificates reloaded")
				}
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-exited
	}
}
