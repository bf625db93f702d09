// Command restorecheck checks a backup and restore end to end, as issue 13
// asks a new user to try it: "load" creates sessions with fields and
// deadlines through the Go client and records every acknowledged one in a
// file; after a backup of that cluster is restored into a new one,
// "verify" reads each recorded session from the new cluster and checks
// it: the same subject, fields, version, creation time and deadline, or,
// for a session whose deadline has passed since, that it is gone.
//
//	go run ./examples/restorecheck load -seeds 127.0.0.1:7001 -n 10000 -short 1000 -short-ttl 2m -out sessions.jsonl
//	... sessionraft backup, restore, start the new cluster (docs/DURABILITY.md) ...
//	go run ./examples/restorecheck verify -seeds 127.0.0.1:7401 -in sessions.jsonl
//
// verify exits 1 if any session is missing, different, or served after
// its deadline. The file holds session ids: keep it as private as the
// sessions.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionraft/sessionraft/client"
)

// record is one acknowledged session as the server returned it.
type record struct {
	ID       string            `json:"id"`
	Subject  string            `json:"subject"`
	Version  uint64            `json:"version"`
	Created  time.Time         `json:"created"`
	Deadline time.Time         `json:"deadline"`
	Fields   map[string]string `json:"fields"`
}

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "load" && os.Args[1] != "verify") {
		fmt.Fprintln(os.Stderr, "usage: restorecheck load|verify [flags] (-h for the flags)")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	seeds := fs.String("seeds", "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003", "client addresses of the cluster, comma-separated")
	n := fs.Int("n", 10000, "load: sessions to create")
	short := fs.Int("short", 1000, "load: how many of them get -short-ttl instead of -ttl")
	shortTTL := fs.Duration("short-ttl", 2*time.Minute, "load: lifetime of the short sessions (they should expire before verify)")
	ttl := fs.Duration("ttl", 24*time.Hour, "load: lifetime of the others")
	out := fs.String("out", "sessions.jsonl", "load: file of the acknowledged sessions")
	in := fs.String("in", "sessions.jsonl", "verify: file written by load")
	workers := fs.Int("workers", 32, "concurrent requests")
	_ = fs.Parse(os.Args[2:])
	ctx := context.Background()
	c, err := client.New(ctx, client.Config{Seeds: strings.Split(*seeds, ","), RequestTimeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "restorecheck:", err)
		os.Exit(1)
	}
	defer c.Close()
	if os.Args[1] == "load" {
		err = load(ctx, c, *n, *short, *shortTTL, *ttl, *out, *workers)
	} else {
		err = verify(ctx, c, *in, *workers)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "restorecheck:", err)
		os.Exit(1)
	}
}

func load(ctx context.Context, c *client.Client, n, short int, shortTTL, ttl time.Duration, out string, workers int) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	var (
		mu   sync.Mutex
		next atomic.Int64
		errs atomic.Int64
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				d := ttl
				if i < short {
					d = shortTTL
				}
				payload := make([]byte, 32+i%96)
				_, _ = rand.Read(payload)
				s, err := c.Create(ctx, client.WithSubject(fmt.Sprintf("user-%d", i%500)), client.WithTTL(d),
					client.WithFields(map[string][]byte{"n": fmt.Appendf(nil, "%d", i), "cart": []byte(hex.EncodeToString(payload))}))
				if err != nil {
					errs.Add(1) // not acknowledged: not recorded, not checked
					continue
				}
				b, _ := json.Marshal(toRecord(s))
				mu.Lock()
				w.Write(append(b, '\n'))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	fmt.Printf("load: %d sessions acknowledged (%d with a %v lifetime), %d failed, in %v; recorded in %s\n",
		int64(n)-errs.Load(), min(short, n), shortTTL, errs.Load(), time.Since(start).Round(time.Millisecond), out)
	return nil
}

func toRecord(s *client.Session) record {
	r := record{ID: s.ID, Subject: s.Subject, Version: s.Version, Created: s.Created, Deadline: s.AbsoluteDeadline, Fields: map[string]string{}}
	for k, v := range s.Fields {
		r.Fields[k] = string(v)
	}
	return r
}

func verify(ctx context.Context, c *client.Client, in string, workers int) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	var recs []record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("%s line %d: %w", in, len(recs)+1, err)
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	var (
		same, gone, missing, differ, stale, failed atomic.Int64
		next                                       atomic.Int64
		wg                                         sync.WaitGroup
		mu                                         sync.Mutex
		examples                                   []string
	)
	note := func(format string, args ...any) {
		mu.Lock()
		if len(examples) < 10 {
			examples = append(examples, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(recs) {
					return
				}
				want := recs[i]
				// Read without counting as an access, at the default
				// (linearizable) level.
				s, err := c.Get(ctx, want.ID, client.WithoutTouch())
				expired := !want.Deadline.IsZero() && time.Now().After(want.Deadline)
				switch {
				case errors.Is(err, client.ErrNotFound) && expired:
					gone.Add(1)
				case errors.Is(err, client.ErrNotFound):
					missing.Add(1)
					note("session %d (%s...) missing", i, want.ID[:6])
				case err != nil:
					failed.Add(1)
					note("session %d: %v", i, err)
				case expired:
					stale.Add(1)
					note("session %d (%s...) served after its deadline %v", i, want.ID[:6], want.Deadline)
				default:
					got := toRecord(s)
					if got.Subject != want.Subject || got.Version != want.Version || !got.Created.Equal(want.Created) ||
						!got.Deadline.Equal(want.Deadline) || !maps.Equal(got.Fields, want.Fields) {
						differ.Add(1)
						note("session %d (%s...) differs: version %d/%d, deadline %v/%v, %d/%d fields", i, want.ID[:6],
							got.Version, want.Version, got.Deadline, want.Deadline, len(got.Fields), len(want.Fields))
					} else {
						same.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("verify: %d sessions checked in %v: %d identical (subject, fields, version, created, deadline), %d expired and gone; %d missing, %d different, %d served after their deadline, %d errors\n",
		len(recs), time.Since(start).Round(time.Millisecond), same.Load(), gone.Load(), missing.Load(), differ.Load(), stale.Load(), failed.Load())
	for _, e := range examples {
		fmt.Println("  ", e)
	}
	if missing.Load()+differ.Load()+stale.Load()+failed.Load() > 0 {
		return errors.New("the restored cluster does not match")
	}
	return nil
}
