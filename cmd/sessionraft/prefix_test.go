package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestPrefixWriter(t *testing.T) {
	var out, errOut bytes.Buffer
	con := &console{out: &out, errOut: &errOut}
	w := newPrefixWriter(con, con.out, "n1 | ")
	for _, chunk := range []string{"hel", "lo\nwor", "ld\r\n", "\n", "tail"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	want := "n1 | hello\nn1 | world\nn1 | \nn1 | tail\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
	con.Printf("a\nb")
	if !strings.HasSuffix(out.String(), "dev | a\ndev | b\n") {
		t.Errorf("Printf: %q", out.String())
	}
}

func TestPrefixWriterLinesDoNotInterleave(t *testing.T) {
	var out bytes.Buffer
	con := &console{out: &out, errOut: &out}
	var wg sync.WaitGroup
	for i := range 4 {
		w := newPrefixWriter(con, con.out, fmt.Sprintf("n%d | ", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				fmt.Fprintf(w, "line %d of node %d\n", j, i)
			}
		}()
	}
	wg.Wait()
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var a, b, c int
		if n, _ := fmt.Sscanf(l, "n%d | line %d of node %d", &a, &b, &c); n != 3 || a != c {
			t.Fatalf("mangled line %q", l)
		}
	}
}
