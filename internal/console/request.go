package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/starmates-ai/ai-teams/internal/lookup"
)

// requestView is the page of one request.
type requestView struct {
	page
	ID        string
	Trace     *lookup.Trace
	Start     time.Time
	Total     time.Duration
	Entry     requestSummary
	HasEntry  bool
	Services  []string
	Waterfall template.HTML
	Selected  *spanView
	Failures  []failureView
	Logs      []logView
	LogFiles  int
	Rows      []rowView
	Curl      string
	Insights  string
	TraceCmd  string
}

type spanView struct {
	*lookup.Span
	Offset time.Duration
	Parent string // the parent's service and name, when the parent is in the trace
	Attrs  []field
	Events []eventView
}

type eventView struct {
	Name   string
	Offset time.Duration
	Error  bool
	Attrs  []field
}

// failureView is an error event or a failed span, listed at the top of the page.
type failureView struct {
	SpanID  string
	Service string
	Span    string
	What    string
	Offset  time.Duration
}

type logView struct {
	lookup.LogLine
	Offset    time.Duration
	SpanKnown bool
	Summary   string // the fields a reader looks at first
	JSON      string // the whole line, indented
}

type rowView struct {
	Table  string
	Fields []field
}

// field is a key and its value as text; Long values are shown preformatted.
type field struct {
	Key   string
	Value string
	Long  bool
}

func (s *Server) requestPage(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("id")
	id, err := lookup.ParseTrackingID(raw)
	if err != nil {
		s.renderBadID(w, r, raw, err)
		return
	}
	if id != raw { // one address per request: the canonical id
		http.Redirect(w, r, "/requests/"+id, http.StatusMovedPermanently)
		return
	}
	ctx, cancel := backendContext(r)
	defer cancel()
	v := requestView{page: s.basePage("Request "+id, ""), ID: id}
	v.Query = id
	v.Curl = fmt.Sprintf("curl -s %s/api/traces/%s", strings.TrimRight(s.cfg.Jaeger.BaseURL, "/"), id)
	v.Insights = insightsQuery(id)
	v.TraceCmd = "aiteams trace " + id

	trace, jerr := s.cfg.Jaeger.Trace(ctx, id)
	jaegerDown := jerr != nil && !isNotFound(jerr)
	if jaegerDown {
		v.Problems = append(v.Problems, s.unreachable("Jaeger", jerr))
	}
	lines, files, lerr := lookup.SearchLogs(s.cfg.LogPatterns, id)
	v.LogFiles = len(files)
	if lerr != nil {
		v.Problems = append(v.Problems, problem{Source: "logs", Message: lerr.Error()})
	} else if len(files) == 0 {
		v.Problems = append(v.Problems, problem{Source: "logs", Message: fmt.Sprintf("no log file matches %s", strings.Join(s.cfg.LogPatterns, ", ")),
			Fix: "Start the console from the repository's root, or pass -logs with the services' log files."})
	}
	rows, derr := s.rows(ctx, id)
	if derr != nil {
		v.Problems = append(v.Problems, problem{Source: "database", Message: derr.Error()})
	}

	if trace == nil && len(lines) == 0 && len(rows) == 0 {
		status := http.StatusNotFound
		if jaegerDown {
			status = http.StatusBadGateway
		} else {
			v.Problems = append(v.Problems, problem{Source: "lookup",
				Message: fmt.Sprintf("Nothing carries tracking id %s: Jaeger has no trace with it, no log line and no database row has it.", id),
				Fix:     "A request's spans reach Jaeger a few seconds after its response; reload in a moment. The local Jaeger keeps traces for three days (.run/jaeger)."})
		}
		v.Title = "Request not found"
		s.render(w, r, status, "request", v)
		return
	}

	v.Rows = rows
	var byID map[string]*lookup.Span
	if trace != nil {
		v.Trace = trace
		v.Start, v.Total = trace.Bounds()
		v.Services = trace.Services()
		byID = trace.Tree().ByID
		for _, svc := range v.Services {
			if sum, ok := summarize(trace, svc); ok && sum.Method != "" {
				v.Entry, v.HasEntry = sum, true
				break
			}
		}
		selected := s.selectedSpan(trace, byID, r.URL.Query().Get("span"), &v)
		spanHref := func(spanID string) string { return "/requests/" + id + "?span=" + url.QueryEscape(spanID) + "#span" }
		v.Waterfall = waterfallSVG(trace, spanHref, selected)
		v.Failures = failures(trace, v.Start)
	} else if !jaegerDown {
		v.Problems = append(v.Problems, problem{Source: "Jaeger", Message: "Jaeger has no trace with this id yet; showing its log lines and rows.",
			Fix: "Spans arrive a few seconds after the response; reload in a moment."})
	}
	for _, l := range lines {
		lv := logView{LogLine: l, Summary: logSummary(l)}
		if trace != nil {
			lv.Offset = l.Time.Sub(v.Start)
			lv.SpanKnown = byID[l.SpanID] != nil
		}
		if b, err := json.MarshalIndent(l.Fields, "", "  "); err == nil {
			lv.JSON = string(b)
		}
		v.Logs = append(v.Logs, lv)
	}
	s.render(w, r, http.StatusOK, "request", &v)
}

// selectedSpan picks the span whose details the page shows: the one asked
// for, else the first span with an error event, else the first failed
// span, else the first span.
func (s *Server) selectedSpan(t *lookup.Trace, byID map[string]*lookup.Span, asked string, v *requestView) string {
	pick := -1
	for i, sp := range t.Spans {
		if asked != "" && sp.SpanID == asked {
			pick = i
		}
	}
	if asked != "" && pick < 0 {
		v.Problems = append(v.Problems, problem{Source: "input", Message: fmt.Sprintf("span %q is not in this trace", asked), Fix: "Showing the request's first span with an error instead."})
	}
	for i, sp := range t.Spans {
		if pick >= 0 {
			break
		}
		for _, e := range sp.Events {
			if isErrorEvent(e) {
				pick = i
				break
			}
		}
	}
	for i, sp := range t.Spans {
		if pick < 0 && sp.Error {
			pick = i
		}
	}
	pick = max(pick, 0)
	sp := &t.Spans[pick]
	first := v.Start
	sv := &spanView{Span: sp, Offset: sp.Start.Sub(first), Attrs: fields(sp.Attributes)}
	if p := byID[sp.ParentID]; p != nil {
		sv.Parent = p.Service + " " + p.Name
	}
	for _, e := range sp.Events {
		sv.Events = append(sv.Events, eventView{Name: e.Name, Offset: e.Time.Sub(first), Error: isErrorEvent(e), Attrs: fields(e.Attributes)})
	}
	v.Selected = sv
	return sp.SpanID
}

func failures(t *lookup.Trace, first time.Time) []failureView {
	var out []failureView
	for _, sp := range t.Spans {
		n := len(out)
		for _, e := range sp.Events {
			if !isErrorEvent(e) {
				continue
			}
			what := fmt.Sprint(e.Attributes["log.message"])
			if e.Name == "exception" {
				what = fmt.Sprintf("%v: %v", e.Attributes["exception.type"], e.Attributes["exception.message"])
			}
			out = append(out, failureView{SpanID: sp.SpanID, Service: sp.Service, Span: sp.Name, What: e.Name + ": " + what, Offset: e.Time.Sub(first)})
		}
		if sp.Error && len(out) == n {
			what := "span ended in error"
			if sp.Status != "" {
				what += ": " + sp.Status
			}
			out = append(out, failureView{SpanID: sp.SpanID, Service: sp.Service, Span: sp.Name, What: what, Offset: sp.Start.Sub(first)})
		}
	}
	return out
}

// logSummary picks what a reader looks at first in a line besides its message.
func logSummary(l lookup.LogLine) string {
	var parts []string
	for _, k := range []string{"reason", "run_id"} {
		if v, ok := l.Fields[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	if e, ok := l.Fields["error"].(map[string]any); ok && e["message"] != nil {
		parts = append(parts, fmt.Sprintf("error=%v", e["message"]))
	}
	if req, ok := l.Fields["request"].(map[string]any); ok && req["duration"] != nil {
		if d, ok := req["duration"].(float64); ok {
			parts = append(parts, "took "+human(time.Duration(d*float64(time.Second))))
		}
	}
	return strings.Join(parts, "  ")
}

func fields(m map[string]any) []field {
	out := make([]field, 0, len(m))
	for k, v := range m {
		out = append(out, valueField(k, v))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func valueField(k string, v any) field {
	var s string
	switch x := v.(type) {
	case nil:
		s = "NULL"
	case string:
		s = x
	case float64:
		s = fmt.Sprint(x)
	case time.Time:
		s = x.UTC().Format(time.RFC3339Nano)
	case []byte:
		s = string(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			s = fmt.Sprint(x)
		} else {
			s = string(b)
		}
	}
	return field{Key: k, Value: s, Long: strings.Contains(s, "\n") || len(s) > 100}
}

func (s *Server) rows(ctx context.Context, id string) ([]rowView, error) {
	db, err := lookup.OpenDB(ctx, s.cfg.DataDir, s.cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.Rows(ctx, id)
	var out []rowView
	for _, r := range rows {
		rv := rowView{Table: r.Table}
		for _, c := range r.Columns {
			rv.Fields = append(rv.Fields, valueField(c, r.Values[c]))
		}
		out = append(out, rv)
	}
	if err != nil {
		return out, errors.New("reading rows: " + err.Error())
	}
	return out, nil
}

// insightsQuery is the CloudWatch Logs Insights query for the same request
// (docs/cloudwatch.md).
func insightsQuery(id string) string {
	return "fields @timestamp, service, level, message, source.function\n| filter tracking_id = \"" + id + "\"\n| sort @timestamp asc"
}
