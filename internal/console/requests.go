package console

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/starmates-ai/ai-teams/internal/lookup"
)

// How far back the list looks, how many traces it asks Jaeger for, and how
// many rows it shows after filtering.
const (
	listLookback   = time.Hour
	listSearch     = 300
	listShown      = 100
	defaultService = "api-gateway"
)

// requestSummary is one row of the list: the request as its entry service saw it.
type requestSummary struct {
	ID       string
	Time     time.Time
	Service  string
	Method   string
	Route    string
	Status   int
	Duration time.Duration
	User     string
	Spans    int
	Failed   int // spans that ended in error, in any service
}

// Bad: the request failed for the client (5xx) or somewhere inside (a failed span).
func (r requestSummary) Bad() bool { return r.Status >= 500 || r.Failed > 0 }

// StatusClass is 2xx, 4xx, ... ("" when no status was recorded).
func (r requestSummary) StatusClass() string {
	if r.Status < 100 || r.Status > 599 {
		return ""
	}
	return fmt.Sprintf("%dxx", r.Status/100)
}

// summarize reads a trace as a request of service: its first server span
// of that service.
func summarize(t *lookup.Trace, service string) (requestSummary, bool) {
	var entry *lookup.Span
	for i := range t.Spans {
		s := &t.Spans[i]
		if s.Service != service {
			continue
		}
		if entry == nil || (s.Kind == "server" && entry.Kind != "server") {
			entry = s
		}
		if entry.Kind == "server" {
			break
		}
	}
	if entry == nil {
		return requestSummary{}, false
	}
	r := requestSummary{ID: t.ID, Time: entry.Start, Service: service, Duration: entry.Duration, Spans: len(t.Spans), Failed: t.Errors(), Route: entry.Name}
	r.Method, _ = entry.Attributes["http.request.method"].(string)
	if route, ok := entry.Attributes["http.route"].(string); ok {
		r.Route = route
	} else if p, ok := entry.Attributes["url.path"].(string); ok {
		r.Route = p
	}
	if f, ok := entry.Attributes["http.response.status_code"].(float64); ok {
		r.Status = int(f)
	}
	r.User, _ = entry.Attributes["user.id"].(string)
	return r, true
}

// listFilter is what the list's form asks for.
type listFilter struct {
	Service     string
	Status      string // "", 2xx, 3xx, 4xx, 5xx, failed
	Min         string // as typed
	minDuration time.Duration
}

var statusChoices = []string{"2xx", "3xx", "4xx", "5xx", "failed"}

func (f listFilter) keep(r requestSummary) bool {
	switch {
	case r.Duration < f.minDuration:
		return false
	case f.Status == "failed":
		return r.Bad()
	case f.Status != "":
		return r.StatusClass() == f.Status
	}
	return true
}

// parseMinDuration takes 250ms, 1.5s, or a plain number of milliseconds.
func parseMinDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if ms, err := strconv.ParseFloat(s, 64); err == nil && ms >= 0 {
		return time.Duration(ms * float64(time.Millisecond)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("minimum duration %q is not a duration: write it as 250ms, 1.5s or a number of milliseconds", s)
	}
	return d, nil
}

type requestsView struct {
	page
	Filter         listFilter
	Services       []string
	StatusChoices  []string
	Requests       []requestSummary
	Searched       int // traces Jaeger returned
	More           int // matching requests not shown
	Lookback       time.Duration
	JaegerAnswered bool
}

func (s *Server) requestsPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := backendContext(r)
	defer cancel()
	v := requestsView{page: s.basePage("Recent requests", "requests"), StatusChoices: statusChoices, Lookback: listLookback}
	q := r.URL.Query()
	v.Filter = listFilter{Service: strings.TrimSpace(q.Get("service")), Status: q.Get("status"), Min: q.Get("min")}
	status := http.StatusOK
	if v.Filter.Status != "" && !slices.Contains(statusChoices, v.Filter.Status) {
		v.Problems = append(v.Problems, problem{Source: "input", Message: fmt.Sprintf("status %q is not one of %s", v.Filter.Status, strings.Join(statusChoices, ", ")), Fix: "Showing every status."})
		v.Filter.Status = ""
		status = http.StatusBadRequest
	}
	if d, err := parseMinDuration(v.Filter.Min); err != nil {
		v.Problems = append(v.Problems, problem{Source: "input", Message: err.Error(), Fix: "Showing every duration."})
		status = http.StatusBadRequest
	} else {
		v.Filter.minDuration = d
	}

	services, err := s.cfg.Jaeger.Services(ctx)
	if err != nil {
		v.Problems = append(v.Problems, s.unreachable("Jaeger", err))
		s.render(w, r, http.StatusBadGateway, "requests", v)
		return
	}
	v.JaegerAnswered = true
	v.Services = services
	if v.Filter.Service == "" {
		v.Filter.Service = defaultService
		if !slices.Contains(services, defaultService) && len(services) > 0 {
			v.Filter.Service = services[0]
		}
	}
	traces, err := s.cfg.Jaeger.Search(ctx, lookup.TraceQuery{Service: v.Filter.Service, Lookback: listLookback, Limit: listSearch})
	if err != nil {
		v.Problems = append(v.Problems, s.unreachable("Jaeger", err))
		s.render(w, r, http.StatusBadGateway, "requests", v)
		return
	}
	v.Searched = len(traces)
	for _, t := range traces {
		if sum, ok := summarize(t, v.Filter.Service); ok && v.Filter.keep(sum) {
			v.Requests = append(v.Requests, sum)
		}
	}
	slices.SortStableFunc(v.Requests, func(a, b requestSummary) int { return b.Time.Compare(a.Time) })
	if len(v.Requests) > listShown {
		v.More = len(v.Requests) - listShown
		v.Requests = v.Requests[:listShown]
	}
	s.render(w, r, status, "requests", v)
}
