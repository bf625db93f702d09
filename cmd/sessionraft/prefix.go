package main

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// console serialises whole lines from many writers (the dev cluster's
// children and dev itself) onto stdout and stderr, so lines never interleave.
type console struct {
	mu          sync.Mutex
	out, errOut io.Writer
}

func (c *console) writeLine(w io.Writer, prefix string, line []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	buf := make([]byte, 0, len(prefix)+len(line)+1)
	buf = append(buf, prefix...)
	buf = append(buf, line...)
	buf = append(buf, '\n')
	_, _ = w.Write(buf)
}

// Printf writes dev's own messages to stdout, prefixed "dev | ".
func (c *console) Printf(format string, args ...any) {
	for _, l := range bytes.Split([]byte(fmt.Sprintf(format, args...)), []byte("\n")) {
		c.writeLine(c.out, "dev | ", l)
	}
}

// Banner writes text to stdout as it is, in one piece.
func (c *console) Banner(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.out, s)
}

// prefixWriter is an io.Writer that buffers partial lines and emits each
// complete line with a prefix ("n1 | ") through a console.
type prefixWriter struct {
	c      *console
	w      io.Writer
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func newPrefixWriter(c *console, w io.Writer, prefix string) *prefixWriter {
	return &prefixWriter{c: c, w: w, prefix: prefix}
}

// maxLine bounds a buffered partial line; a longer one is emitted in pieces.
const maxLine = 64 << 10

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.c.writeLine(p.w, p.prefix, bytes.TrimSuffix(p.buf[:i], []byte("\r")))
		p.buf = p.buf[i+1:]
	}
	if len(p.buf) >= maxLine {
		p.c.writeLine(p.w, p.prefix, p.buf)
		p.buf = nil
	}
	if len(p.buf) == 0 {
		p.buf = nil // let the backing array go
	}
	return len(b), nil
}

// Flush emits a final line that had no newline.
func (p *prefixWriter) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		p.c.writeLine(p.w, p.prefix, p.buf)
		p.buf = nil
	}
}
