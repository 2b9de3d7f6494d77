package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/starmates-ai/ai-teams/internal/lookup"
)

const timelineWidth = 32

// renderReport prints the waterfall: one line per span (offset, duration,
// a bar on a shared time axis, service, name indented by depth), and under
// each span its events and log lines at their time, then the rows.
func renderReport(w io.Writer, rep traceReport, c palette) {
	fmt.Fprintf(w, "%sRequest %s%s\n", c.bold, rep.TrackingID, c.reset)
	if rep.Trace == nil {
		fmt.Fprintf(w, "  no trace in Jaeger (yet)\n")
		if len(rep.Logs) > 0 {
			fmt.Fprintf(w, "\nLog lines\n")
			for _, l := range rep.Logs {
				fmt.Fprintf(w, "  %s  %-16s %s\n", l.Time.UTC().Format("15:04:05.000"), l.Service, colorLog(c, l))
			}
		}
	} else {
		renderWaterfall(w, rep.Trace, rep.Logs, c)
	}
	renderRows(w, rep.Rows, c)
	fmt.Fprintf(w, "\n%sLooked in: %s%s\n", c.dim, lookedSummary(rep.Looked), c.reset)
}

// item is a log line or a span event, placed under its span at its time.
type item struct {
	at   time.Time
	text string // already coloured
}

func renderWaterfall(w io.Writer, t *lookup.Trace, logs []lookup.LogLine, c palette) {
	first, total := t.Bounds()
	summary := fmt.Sprintf("%s UTC · %s · %d spans · services: %s", first.UTC().Format("2006-01-02 15:04:05.000"),
		human(total), len(t.Spans), strings.Join(t.Services(), ", "))
	if n := t.Errors(); n > 0 {
		summary += fmt.Sprintf(" · %s%d failed span(s)%s", c.red, n, c.reset)
	}
	fmt.Fprintf(w, "  %s\n\n", summary)

	tree := t.Tree()
	byID, roots, children := tree.ByID, tree.Roots, tree.Children
	items := map[string][]item{}
	for i := range t.Spans {
		s := &t.Spans[i]
		for _, e := range s.Events {
			items[s.SpanID] = append(items[s.SpanID], item{e.Time, eventText(c, e)})
		}
	}
	for _, l := range logs {
		owner := l.SpanID
		if byID[owner] == nil && len(roots) > 0 {
			owner = roots[0].SpanID // a line from outside any span we have: show it under the request
		}
		items[owner] = append(items[owner], item{l.Time, "log " + colorLog(c, l)})
	}
	for k := range items {
		sort.SliceStable(items[k], func(i, j int) bool { return items[k][i].at.Before(items[k][j].at) })
	}

	fmt.Fprintf(w, "  %8s %9s  %-*s  %-16s %s\n", "START", "DURATION", timelineWidth, "TIMELINE", "SERVICE", "SPAN")
	offset := func(at time.Time) string { return "+" + human(at.Sub(first)) }
	var walk func(s *lookup.Span, depth int)
	walk = func(s *lookup.Span, depth int) {
		indent := strings.Repeat("  ", depth)
		line := fmt.Sprintf("  %8s %9s  %s  %-16s %s%s", offset(s.Start), human(s.Duration), bar(first, total, s.Start, s.Duration), s.Service, indent, s.Name)
		if s.Error {
			status := "ERROR"
			if s.Status != "" {
				status += ": " + s.Status
			}
			line = c.red + line + "  ✗ " + status + c.reset
		}
		fmt.Fprintln(w, line)
		own := items[s.SpanID]
		kids := children[s.SpanID]
		emit := func(until time.Time, all bool) {
			for len(own) > 0 && (all || own[0].at.Before(until)) {
				it := own[0]
				own = own[1:]
				fmt.Fprintf(w, "  %8s %9s  %s  %-16s %s  %s\n", offset(it.at), "", marker(first, total, it.at), "", indent, it.text)
			}
		}
		for _, k := range kids {
			emit(k.Start, false)
			walk(k, depth+1)
		}
		emit(time.Time{}, true)
	}
	for _, r := range roots {
		walk(r, 0)
	}
}

// bar draws a span on the shared time axis: its cells filled from its start
// to its end; a span too short for a cell still gets one.
func bar(first time.Time, total time.Duration, start time.Time, d time.Duration) string {
	from, to := cell(first, total, start), cell(first, total, start.Add(d))
	if to <= from {
		to = from + 1
	}
	if to > timelineWidth {
		to, from = timelineWidth, min(from, timelineWidth-1)
	}
	return strings.Repeat(" ", from) + strings.Repeat("█", to-from) + strings.Repeat(" ", timelineWidth-to)
}

// marker places a log line or event on the time axis.
func marker(first time.Time, total time.Duration, at time.Time) string {
	i := min(cell(first, total, at), timelineWidth-1)
	return strings.Repeat(" ", i) + "·" + strings.Repeat(" ", timelineWidth-i-1)
}

func cell(first time.Time, total time.Duration, at time.Time) int {
	if total <= 0 {
		return 0
	}
	return max(0, int(float64(at.Sub(first))/float64(total)*timelineWidth))
}

// human prints a duration the way a waterfall reads best.
var human = lookup.FormatDuration

func colorLog(c palette, l lookup.LogLine) string {
	text := fmt.Sprintf("%-5s %s", l.Level, l.Message)
	for _, k := range []string{"reason", "run_id"} {
		if v, ok := l.Fields[k]; ok {
			text += fmt.Sprintf("  %s=%v", k, v)
		}
	}
	if e, ok := l.Fields["error"].(map[string]any); ok && e["message"] != nil {
		text += fmt.Sprintf("  error=%v", e["message"])
	}
	text = clip(text, 140)
	switch l.Level {
	case "ERROR":
		return c.red + text + c.reset
	case "WARN":
		return c.yellow + text + c.reset
	default:
		return c.dim + text + c.reset
	}
}

func eventText(c palette, e lookup.Event) string {
	text := "event " + e.Name
	switch e.Name {
	case "exception":
		text += fmt.Sprintf(": %v: %v", e.Attributes["exception.type"], e.Attributes["exception.message"])
	case "error_log":
		text += fmt.Sprintf(": %v", e.Attributes["log.message"])
	}
	text = clip(text, 140)
	if e.Name == "exception" || e.Name == "error_log" {
		return c.red + text + c.reset
	}
	return text
}

func renderRows(w io.Writer, rows []lookup.Row, c palette) {
	if len(rows) == 0 {
		fmt.Fprintf(w, "\nNo database rows carry this tracking id.\n")
		return
	}
	fmt.Fprintf(w, "\n%sRows with this tracking id%s\n", c.bold, c.reset)
	for _, r := range rows {
		var parts []string
		for _, col := range r.Columns {
			if col == "tracking_id" {
				continue
			}
			v := r.Values[col]
			if v == nil {
				v = "NULL"
			}
			parts = append(parts, fmt.Sprintf("%s=%s", col, clip(fmt.Sprint(v), 48)))
		}
		fmt.Fprintf(w, "  %-14s %s\n", r.Table, strings.Join(parts, " "))
	}
}

// clip shortens s to n runes, on one line.
func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
