package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"
)

// The cache's tracking connection: one RESP3 connection to one node with
// CLIENT TRACKING ON BCAST, so the node pushes an invalidation for every
// change it applies (`>2 invalidate [id ...]`, or a null list: flush
// all). It PINGs every lease/4 to keep the cache's lease (cache.go); if it
// breaks, or stays silent for four leases, the cache is dropped and
// another node is tried.

// trackLoop keeps a tracking connection up until ctx ends.
func (c *Client) trackLoop(ctx context.Context) {
	defer c.wg.Done()
	backoff := 50 * time.Millisecond
	// Clients spread their tracking connections over the nodes.
	for i := rand.IntN(1 << 16); ctx.Err() == nil; i++ {
		addr := c.trackAddr(i)
		start := time.Now()
		err := c.track(ctx, addr)
		c.cache.validUntil.Store(0)
		c.cache.flush()
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("sessionraft: cache tracking connection lost; cache dropped", "addr", addr, "err", err)
		if time.Since(start) > time.Second {
			backoff = 50 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// trackAddr picks the node for the i-th attempt: the known nodes in turn.
func (c *Client) trackAddr(i int) string {
	nodes := c.cfg.Seeds
	if tp := c.topo.Load(); tp != nil && len(tp.nodes) > 0 {
		nodes = tp.nodes
	}
	return nodes[i%len(nodes)]
}

// track runs one tracking connection to addr until it fails or ctx ends.
func (c *Client) track(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	if c.cfg.TLS != nil {
		cfg := c.cfg.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		nc = tls.Client(nc, cfg)
	}
	c.cache.conn.Store(&nc)
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	defer nc.Close()
	br := bufio.NewReader(nc)

	// Handshake: HELLO 3 (authenticating), then tracking.
	_ = nc.SetDeadline(time.Now().Add(c.cfg.DialTimeout))
	hello := []string{"HELLO", "3"}
	if c.cfg.Password != "" {
		user := c.cfg.Username
		if user == "" {
			user = "default"
		}
		hello = append(hello, "AUTH", user, c.cfg.Password)
	}
	out := appendCommand(nil, hello...)
	out = appendCommand(out, "CLIENT", "SETNAME", "sessionraft-cache")
	out = appendCommand(out, "CLIENT", "TRACKING", "ON", "BCAST")
	if _, err := nc.Write(out); err != nil {
		return err
	}
	for range 3 {
		v, err := readValue(br)
		if err != nil {
			return err
		}
		if v.kind == '-' {
			return &ServerError{Code: strings.SplitN(v.str, " ", 2)[0], Message: v.str}
		}
	}
	_ = nc.SetDeadline(time.Time{})
	// Tracking is on from here: fills started earlier may have missed
	// a change, so they are dropped.
	c.cache.flush()

	var mu sync.Mutex
	var sent []time.Time // PINGs not yet answered, oldest first
	errc := make(chan error, 2)
	go func() {
		for {
			v, err := readValue(br)
			if err != nil {
				errc <- err
				return
			}
			switch {
			case v.kind == '>':
				c.pushed(v)
			case v.kind == '+' && v.str == "PONG":
				mu.Lock()
				if len(sent) > 0 {
					c.cache.validUntil.Store(sent[0].Add(c.cache.lease).UnixNano())
					sent = sent[1:]
				}
				mu.Unlock()
			case v.kind == '-':
				errc <- fmt.Errorf("tracking connection: %s", v.str)
				return
			}
		}
	}()
	tick := time.NewTicker(max(c.cache.lease/4, time.Millisecond))
	defer tick.Stop()
	ping := appendCommand(nil, "PING")
	for {
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		now := time.Now()
		mu.Lock()
		silent := len(sent) > 0 && now.Sub(sent[0]) > 4*c.cache.lease
		sent = append(sent, now)
		mu.Unlock()
		if silent {
			return errors.New("tracking connection: no PONG within four leases")
		}
		_ = nc.SetWriteDeadline(now.Add(c.cache.lease))
		if _, err := nc.Write(ping); err != nil {
			return err
		}
	}
}

// pushed handles a push on the tracking connection.
func (c *Client) pushed(v rvalue) {
	if len(v.elems) != 2 || v.elems[0].str != "invalidate" {
		return // another kind of push: none is expected
	}
	keys := v.elems[1]
	if keys.null {
		c.cache.flush()
		return
	}
	for _, k := range keys.elems {
		c.cache.invalidate(k.str)
	}
}
