// Package lookup finds what the stack knows about one request — its trace in
// Jaeger, its log lines, its database rows — and answers Prometheus queries.
// The aiteams command and any web view share it; it prints nothing itself.
package lookup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
)

// ErrNotFound says the backend answered and has nothing for the id (yet).
var ErrNotFound = errors.New("not found")

var (
	trackingIDRe  = regexp.MustCompile(`^[0-9a-f]{32}$`)
	traceparentRe = regexp.MustCompile(`^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$`)
	hexRunRe      = regexp.MustCompile(`[0-9a-fA-F]+`)
)

// ParseTrackingID accepts what a person pastes from a bug report — the id
// itself, a traceparent header value, or a URL or log line that contains
// exactly one id — and returns the id in lowercase.
func ParseTrackingID(s string) (string, error) {
	s = strings.TrimSpace(s)
	lower := strings.ToLower(s)
	var id string
	switch {
	case s == "":
		return "", errors.New("no tracking id given")
	case trackingIDRe.MatchString(lower):
		id = lower
	case traceparentRe.MatchString(lower):
		id = traceparentRe.FindStringSubmatch(lower)[1]
	default:
		found := map[string]bool{}
		for _, run := range hexRunRe.FindAllString(s, -1) {
			if len(run) == 32 {
				found[strings.ToLower(run)] = true
			}
		}
		if len(found) != 1 {
			return "", fmt.Errorf("%q is not a tracking id: want 32 hex digits (the X-Tracking-ID header), a traceparent, or a URL with one id in it", abbreviate(s, 80))
		}
		for k := range found {
			id = k
		}
	}
	if strings.Trim(id, "0") == "" {
		return "", errors.New("the all-zero id is not a valid tracking id")
	}
	return id, nil
}

func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Trace is one request's spans, ordered by start time.
type Trace struct {
	ID    string `json:"tracking_id"`
	Spans []Span `json:"spans"`
}

// Span is a span as a person reads it.
type Span struct {
	SpanID     string         `json:"span_id"`
	ParentID   string         `json:"parent_id,omitempty"`
	Service    string         `json:"service"`
	Name       string         `json:"name"`
	Kind       string         `json:"kind,omitempty"`
	Start      time.Time      `json:"start"`
	Duration   time.Duration  `json:"duration_ns"`
	Error      bool           `json:"error"`
	Status     string         `json:"status,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
	Events     []Event        `json:"events,omitempty"`
}

// Event is a span event (error_log, exception, ...).
type Event struct {
	Time       time.Time      `json:"time"`
	Name       string         `json:"name"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// IsDatabase: the span is a database call (it has db.system.name).
func (s Span) IsDatabase() bool { return s.Attributes["db.system.name"] != nil }

// Services lists the services that have spans in the trace, in order of first span.
func (t *Trace) Services() []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range t.Spans {
		if !seen[s.Service] {
			seen[s.Service] = true
			out = append(out, s.Service)
		}
	}
	return out
}

// Jaeger reads traces from Jaeger's HTTP API (/api/traces/<id>).
type Jaeger struct {
	BaseURL string
	Client  *http.Client // nil: a client with a 10 s timeout
}

func (j Jaeger) client() *http.Client {
	if j.Client != nil {
		return j.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// Trace fetches one trace; ErrNotFound when Jaeger has none with that id.
func (j Jaeger) Trace(ctx context.Context, id string) (*Trace, error) {
	body, err := j.get(ctx, "/api/traces/"+url.PathEscape(id))
	if err != nil {
		return nil, err
	}
	return ParseJaegerTrace(body, id)
}

// TraceQuery selects recent traces that have spans of one service.
type TraceQuery struct {
	Service  string
	Lookback time.Duration // 0: one hour
	Limit    int           // 0: 100
}

// Search returns the most recent traces with spans of q.Service, newest
// first (Jaeger's /api/traces search).
func (j Jaeger) Search(ctx context.Context, q TraceQuery) ([]*Trace, error) {
	if q.Lookback <= 0 {
		q.Lookback = time.Hour
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	v := url.Values{}
	v.Set("service", q.Service)
	v.Set("lookback", q.Lookback.String())
	v.Set("limit", fmt.Sprint(q.Limit))
	body, err := j.get(ctx, "/api/traces?"+v.Encode())
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var doc jaegerDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("Jaeger's answer is not a list of traces: %w", err)
	}
	traces := doc.traces()
	sort.SliceStable(traces, func(i, k int) bool { return traces[i].Spans[0].Start.After(traces[k].Spans[0].Start) })
	return traces, nil
}

// Services lists the services Jaeger has spans of.
func (j Jaeger) Services(ctx context.Context) ([]string, error) {
	body, err := j.get(ctx, "/api/services")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Data []string `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("Jaeger's answer is not a list of services: %w", err)
	}
	sort.Strings(doc.Data)
	return doc.Data, nil
}

// get reads one answer of Jaeger's HTTP API; ErrNotFound for a 404.
func (j Jaeger) get(ctx context.Context, pathAndQuery string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(j.BaseURL, "/")+pathAndQuery, nil)
	if err != nil {
		return nil, err
	}
	resp, err := j.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("Jaeger at %s: %w", j.BaseURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("Jaeger at %s: %w", j.BaseURL, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, ErrNotFound
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("Jaeger at %s: HTTP %d: %s", j.BaseURL, resp.StatusCode, abbreviate(strings.TrimSpace(string(body)), 200))
	}
	return body, nil
}

// jaegerDoc is the part of Jaeger's /api/traces answer that lookup reads.
type jaegerDoc struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			SpanID        string `json:"spanID"`
			OperationName string `json:"operationName"`
			References    []struct {
				RefType string `json:"refType"`
				SpanID  string `json:"spanID"`
			} `json:"references"`
			StartTime int64      `json:"startTime"` // µs since the epoch
			Duration  int64      `json:"duration"`  // µs
			Tags      []jaegerKV `json:"tags"`
			Logs      []struct {
				Timestamp int64      `json:"timestamp"`
				Fields    []jaegerKV `json:"fields"`
			} `json:"logs"`
			ProcessID string `json:"processID"`
		} `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
		} `json:"processes"`
	} `json:"data"`
}

type jaegerKV struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// ParseJaegerTrace reads Jaeger's /api/traces/<id> JSON.
func ParseJaegerTrace(body []byte, id string) (*Trace, error) {
	var doc jaegerDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("Jaeger's answer is not a trace: %w", err)
	}
	for _, t := range doc.traces() {
		if t.ID == id {
			return t, nil
		}
	}
	return nil, ErrNotFound
}

// traces converts each trace of the answer that has spans; spans ordered by start.
func (doc jaegerDoc) traces() []*Trace {
	var out []*Trace
	for _, d := range doc.Data {
		t := &Trace{ID: d.TraceID}
		for _, js := range d.Spans {
			s := Span{
				SpanID:     js.SpanID,
				Service:    d.Processes[js.ProcessID].ServiceName,
				Name:       js.OperationName,
				Start:      time.UnixMicro(js.StartTime).UTC(),
				Duration:   time.Duration(js.Duration) * time.Microsecond,
				Attributes: map[string]any{},
			}
			for _, r := range js.References {
				if r.RefType == "CHILD_OF" {
					s.ParentID = r.SpanID
				}
			}
			for _, kv := range js.Tags {
				switch kv.Key {
				case "span.kind":
					s.Kind, _ = kv.Value.(string)
				case "otel.status_code":
					s.Error = s.Error || kv.Value == "ERROR"
				case "error":
					s.Error = s.Error || kv.Value == true
				case "otel.status_description":
					s.Status, _ = kv.Value.(string)
				default:
					s.Attributes[kv.Key] = kv.Value
				}
			}
			for _, l := range js.Logs {
				e := Event{Time: time.UnixMicro(l.Timestamp).UTC(), Attributes: map[string]any{}}
				for _, kv := range l.Fields {
					if kv.Key == "event" {
						e.Name, _ = kv.Value.(string)
						continue
					}
					e.Attributes[kv.Key] = kv.Value
				}
				s.Events = append(s.Events, e)
			}
			t.Spans = append(t.Spans, s)
		}
		if len(t.Spans) == 0 {
			continue
		}
		sort.SliceStable(t.Spans, func(i, k int) bool { return t.Spans[i].Start.Before(t.Spans[k].Start) })
		out = append(out, t)
	}
	return out
}
