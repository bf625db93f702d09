package fsm

import (
	"container/heap"
	"slices"
	"strings"
)

// Page is one page of a subject's records (SubjectPage).
type Page struct {
	// Records are live records with ids after the page's start, by id.
	Records []*Record
	// More reports that ids after the last record may remain: ask again
	// from Next. A page can be short, even empty, while More is set
	// (records that expired are skipped).
	More bool
	// Next is the id to continue after when More is set: the last id the
	// page looked at.
	Next string
}

// SubjectPage returns up to limit live records of subject (as BySubject
// judges liveness) whose ids sort after the id after ("" for the first
// page), in id order, stopping early once their sizes (Record.Size) reach
// maxBytes. A page holds at least one record when one is due, whatever its
// size, so paging always progresses.
//
// Memory is O(limit) whatever the subject's size; time is O(n log limit)
// for a subject of n ids, under the subject index's read lock. Paging
// through a subject therefore costs O(n²/limit): fine for the thousands of
// sessions a subject has in practice, slow (but bounded in memory) for a
// subject an attacker filled with millions.
func (f *FSM) SubjectPage(subject, after string, limit, maxBytes int, now int64) Page {
	if subject == "" || limit <= 0 {
		return Page{}
	}
	st := f.state.Load()
	st.subMu.RLock()
	now = max(now, st.clock.Load())
	// The limit+1 smallest ids after `after`, in a max-heap: one more
	// than a page, to learn whether more follow.
	h := idHeap(make([]string, 0, min(limit+1, len(st.subjects[subject]))))
	for id := range st.subjects[subject] {
		if id <= after {
			continue
		}
		if len(h) <= limit {
			heap.Push(&h, id)
		} else if id < h[0] {
			h[0] = id
			heap.Fix(&h, 0)
		}
	}
	ids := []string(h)
	slices.Sort(ids)
	var p Page
	if len(ids) > limit {
		ids, p.More = ids[:limit], true
	}
	bytes := 0
	for i, id := range ids {
		if len(p.Records) > 0 && bytes >= maxBytes {
			p.More = true
			p.Next = ids[i-1]
			break
		}
		p.Next = id
		if r := st.get(id); r != nil && !r.ExpiredAt(now) {
			p.Records = append(p.Records, r)
			bytes += r.Size()
		}
	}
	st.subMu.RUnlock()
	if !p.More {
		p.Next = ""
	}
	return p
}

// SubjectLen returns the number of ids indexed under subject, including
// records expired but not yet removed.
func (f *FSM) SubjectLen(subject string) int {
	st := f.state.Load()
	st.subMu.RLock()
	defer st.subMu.RUnlock()
	return len(st.subjects[subject])
}

// idHeap is a max-heap of ids.
type idHeap []string

func (h idHeap) Len() int           { return len(h) }
func (h idHeap) Less(i, j int) bool { return strings.Compare(h[i], h[j]) > 0 }
func (h idHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *idHeap) Push(x any)        { *h = append(*h, x.(string)) }
func (h *idHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
