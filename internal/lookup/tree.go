package lookup

import (
	"fmt"
	"sort"
	"time"
)

// SpanTree is a trace's spans by parent. A span whose parent is not in the
// trace is a root: the request's first span, or an orphan whose parent
// never arrived.
type SpanTree struct {
	Roots    []*Span
	Children map[string][]*Span // by parent span id, ordered by start
	ByID     map[string]*Span
}

// Tree links the trace's spans to their parents.
func (t *Trace) Tree() SpanTree {
	tr := SpanTree{Children: map[string][]*Span{}, ByID: map[string]*Span{}}
	for i := range t.Spans {
		tr.ByID[t.Spans[i].SpanID] = &t.Spans[i]
	}
	for i := range t.Spans {
		s := &t.Spans[i]
		if tr.ByID[s.ParentID] == nil || s.ParentID == s.SpanID {
			tr.Roots = append(tr.Roots, s)
		} else {
			tr.Children[s.ParentID] = append(tr.Children[s.ParentID], s)
		}
	}
	for _, kids := range tr.Children {
		sort.SliceStable(kids, func(i, k int) bool { return kids[i].Start.Before(kids[k].Start) })
	}
	return tr
}

// Placed is a span with its depth in the tree.
type Placed struct {
	*Span
	Depth int
}

// Walk lists every span once, depth first: each span followed by its
// children in order of start.
func (tr SpanTree) Walk() []Placed {
	var out []Placed
	seen := map[*Span]bool{}
	var walk func(s *Span, depth int)
	walk = func(s *Span, depth int) {
		if seen[s] { // a cycle of parent ids cannot loop
			return
		}
		seen[s] = true
		out = append(out, Placed{s, depth})
		for _, k := range tr.Children[s.SpanID] {
			walk(k, depth+1)
		}
	}
	for _, r := range tr.Roots {
		walk(r, 0)
	}
	if len(out) < len(tr.ByID) { // spans in a cycle of parent ids have no root
		ids := make([]string, 0, len(tr.ByID))
		for id := range tr.ByID {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			walk(tr.ByID[id], 0)
		}
	}
	return out
}

// Bounds is the time the trace covers: the first span's start and the
// time until the last span ends.
func (t *Trace) Bounds() (first time.Time, total time.Duration) {
	if len(t.Spans) == 0 {
		return time.Time{}, 0
	}
	first = t.Spans[0].Start
	last := first
	for _, s := range t.Spans {
		if s.Start.Before(first) {
			first = s.Start
		}
		if end := s.Start.Add(s.Duration); end.After(last) {
			last = end
		}
	}
	return first, last.Sub(first)
}

// Errors counts the spans that ended in error.
func (t *Trace) Errors() int {
	n := 0
	for _, s := range t.Spans {
		if s.Error {
			n++
		}
	}
	return n
}

// FormatDuration prints a duration the way a waterfall reads best: 0.4ms,
// 15.9ms, 1.23s.
func FormatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + FormatDuration(-d)
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}
