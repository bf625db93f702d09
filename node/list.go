package node

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/sessionraft/sessionraft/fsm"
)

// SESSION.LIST pages. A subject can have millions of sessions (an attacker
// can make them), so no reply holds them all:
//
//	SESSION.LIST subject [LIMIT n] [CURSOR c] ...
//
// With LIMIT or CURSOR the reply is a page, as Redis's SCAN answers:
// [next-cursor, [record...]], at most n records (default
// defaultListLimit, at most maxListLimit) of at most maxListBytes (one
// record more when the first alone is larger), in id order. Start with
// cursor 0 and pass each reply's cursor back until it is 0. A page may be
// short, even empty, while the cursor is not 0 (expired records are
// skipped). Sessions created or ended while paging may or may not appear;
// every session that lives through the whole walk appears exactly once.
//
// Without either option the reply keeps its old shape (an array of every
// record) when the subject fits in one page of maxListLimit records and
// maxListBytes; a larger subject is refused with TOOLARGE naming the
// options. The Go client always pages.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
	maxListBytes     = 4 << 20
)

// maxListsBuilding bounds the SESSION.LIST pages a node builds at once.
// A page is up to maxListBytes of records, and its reply as much again:
// without a bound, every request in flight on every connection (up to the
// node's running cap) could hold one. Requests beyond it wait for a turn,
// holding their goroutine but no page.
const maxListsBuilding = 8

// listGate is the node's turns for building pages.
type listGate struct {
	once  sync.Once
	turns chan struct{}
}

// enter waits for a turn; the caller must call leave after writing its
// reply. It fails with ErrBusy if ctx ends first.
func (lg *listGate) enter(ctx context.Context) error {
	lg.once.Do(func() { lg.turns = make(chan struct{}, maxListsBuilding) })
	select {
	case lg.turns <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: too many SESSION.LIST pages being built: %v", ErrBusy, ctx.Err())
	}
}

func (lg *listGate) leave() { <-lg.turns }

// listPage is one page's outcome.
type listPage struct {
	recs []*fsm.Record
	next string // the id to continue after; "" when the walk is done
}

// Cursors are opaque to clients: "0" starts and ends a walk, any other is
// the last id a page covered, base64url-encoded (never "0": a one-character
// raw base64 text decodes to nothing, and ids are never empty).
const cursorStart = "0"

func encodeCursor(next string) string {
	if next == "" {
		return cursorStart
	}
	return base64.RawURLEncoding.EncodeToString([]byte(next))
}

func decodeCursor(c []byte) (string, error) {
	if string(c) == cursorStart {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(string(c))
	if err != nil || len(b) == 0 {
		return "", fmt.Errorf("%w: CURSOR %q is not a cursor from SESSION.LIST (start with 0)", ErrBadArg, c)
	}
	return string(b), nil
}

// listArgs is a parsed SESSION.LIST's paging.
type listArgs struct {
	paged bool   // LIMIT or CURSOR given: reply with a page
	after string // continue after this id; "" from the start
	limit int
}

// takeListPaging removes LIMIT and CURSOR options from args (which start
// with the command name and subject; options are name/value pairs) and
// returns the rest and the paging they ask for.
func takeListPaging(args [][]byte) ([][]byte, listArgs, error) {
	var la listArgs
	rest := args[:2:2]
	for i := 2; i < len(args); i += 2 {
		switch {
		case opt(args, i, "LIMIT"):
			n, err := parseUint(args[i+1], "LIMIT")
			if err != nil {
				return nil, la, err
			}
			if n == 0 || n > maxListLimit {
				return nil, la, fmt.Errorf("%w: LIMIT must be in 1..%d", ErrBadArg, maxListLimit)
			}
			la.paged, la.limit = true, int(n)
		case opt(args, i, "CURSOR"):
			after, err := decodeCursor(args[i+1])
			if err != nil {
				return nil, la, err
			}
			la.paged, la.after = true, after
		default:
			rest = append(rest, args[i:min(i+2, len(args))]...)
		}
	}
	switch {
	case !la.paged:
		la.limit = maxListLimit // one page, refused if the subject has more
	case la.limit == 0:
		la.limit = defaultListLimit
	}
	return rest, la, nil
}

// errListTooLarge refuses an unpaged SESSION.LIST of a subject larger
// than one page.
var errListTooLarge = fmt.Errorf("%w: the subject has more than %d sessions or %d bytes of them: page with SESSION.LIST subject LIMIT n CURSOR 0, then CURSOR each reply's cursor", fsm.ErrTooLarge, maxListLimit, maxListBytes)

// listPage reads one page of subject's records from the groups gids,
// after the id after, merged in id order.
func (n *Node) listPage(ctx context.Context, subject string, gids []int, o readOpts, after string, limit int) (listPage, error) {
	var (
		mu    sync.Mutex
		pages = make([]fsm.Page, 0, len(gids))
	)
	_, err := n.fanOut(ctx, gids, false, func(ctx context.Context, gid int) (int, error) {
		var p fsm.Page
		err := n.localOrForward(ctx, gid, o, func() error {
			p = n.groups[gid].fsm.SubjectPage(subject, after, limit, maxListBytes, n.now())
			return nil
		}, func(addr string) error {
			var err error
			p, err = n.forwardListPage(ctx, addr, gid, subject, o, after, limit)
			return err
		})
		if err == nil {
			mu.Lock()
			pages = append(pages, p)
			mu.Unlock()
		}
		return len(p.Records), err
	})
	if err != nil {
		return listPage{}, err
	}
	return mergePages(pages, limit), nil
}

// mergePages merges the groups' pages of one walk step. A group that has
// more stops the merged page at its Next: ids after it may exist in that
// group, unseen, and would be skipped. The merged page is then cut to
// limit records and maxListBytes like a group's.
func mergePages(pages []fsm.Page, limit int) listPage {
	var (
		all  []*fsm.Record
		cut  string
		more bool
	)
	for _, p := range pages {
		all = append(all, p.Records...)
		if p.More {
			if !more || p.Next < cut {
				cut = p.Next
			}
			more = true
		}
	}
	slices.SortFunc(all, func(a, b *fsm.Record) int { return strings.Compare(a.ID(), b.ID()) })
	out := listPage{}
	if more {
		out.next = cut
	}
	bytes := 0
	for _, r := range all {
		if more && r.ID() > cut {
			break
		}
		if len(out.recs) == limit || (len(out.recs) > 0 && bytes >= maxListBytes) {
			out.next = out.recs[len(out.recs)-1].ID()
			break
		}
		out.recs = append(out.recs, r)
		bytes += r.Size()
	}
	return out
}

// forwardListPage asks the leader at addr for a group's page.
// Payload: the read header, uvarint limit, string after, then the subject.
// Reply: uvarint more (0 or 1), string next, then the records.
func (n *Node) forwardListPage(ctx context.Context, addr string, gid int, subject string, o readOpts, after string, limit int) (fsm.Page, error) {
	req := appendReadHeader(gid, o, "")
	req = binary.AppendUvarint(req, uint64(limit))
	req = binary.AppendUvarint(req, uint64(len(after)))
	req = append(append(req, after...), subject...)
	n.admin.met.Forwarded("read")
	out, err := n.mux.Call(ctx, addr, rpcListPage, req)
	if err != nil {
		return fsm.Page{}, translateCallErr(err, false)
	}
	return decodeListPage(out)
}

// appendListPage encodes a page for rpcListPage's reply.
func appendListPage(dst []byte, p fsm.Page) []byte {
	more := uint64(0)
	if p.More {
		more = 1
	}
	dst = binary.AppendUvarint(dst, more)
	dst = binary.AppendUvarint(dst, uint64(len(p.Next)))
	dst = append(dst, p.Next...)
	return appendRecords(dst, p.Records)
}

// decodeListPage decodes appendListPage's bytes.
func decodeListPage(b []byte) (fsm.Page, error) {
	more, k := binary.Uvarint(b)
	if k <= 0 || more > 1 {
		return fsm.Page{}, fmt.Errorf("%w: bad list page", ErrUnavailable)
	}
	b = b[k:]
	l, k := binary.Uvarint(b)
	if k <= 0 || l > uint64(len(b)-k) {
		return fsm.Page{}, fmt.Errorf("%w: bad list page", ErrUnavailable)
	}
	next := string(b[k : k+int(l)])
	recs, err := decodeRecords(b[k+int(l):])
	if err != nil {
		return fsm.Page{}, err
	}
	return fsm.Page{Records: recs, More: more == 1, Next: next}, nil
}

// parseListPageReq reads rpcListPage's request after the read header:
// uvarint limit, string after, then the subject.
func parseListPageReq(b []byte) (limit int, after, subject string, err error) {
	lim, k := binary.Uvarint(b)
	if k <= 0 || lim == 0 || lim > maxListLimit {
		return 0, "", "", fmt.Errorf("%w: bad list page request", ErrBadArg)
	}
	b = b[k:]
	l, k := binary.Uvarint(b)
	if k <= 0 || l > uint64(len(b)-k) {
		return 0, "", "", fmt.Errorf("%w: bad list page request", ErrBadArg)
	}
	return int(lim), string(b[k : k+int(l)]), string(b[k+int(l):]), nil
}

// serveListPage answers rpcListPage on the leader; key is the payload
// after the read header.
func (n *Node) serveListPage(g *group, key []byte, now int64) ([]byte, error) {
	limit, after, subject, err := parseListPageReq(key)
	if err != nil {
		return nil, err
	}
	return appendListPage(nil, g.fsm.SubjectPage(subject, after, limit, maxListBytes, now)), nil
}
