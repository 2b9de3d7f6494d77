package lookup

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Prometheus answers PromQL instant queries over its HTTP API.
type Prometheus struct {
	BaseURL string
	Client  *http.Client // nil: a client with a 10 s timeout
}

// Sample is one series of an instant query's answer.
type Sample struct {
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

// Query runs an instant query at the current time.
func (p Prometheus) Query(ctx context.Context, q string) ([]Sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.Get(ctx, "/api/v1/query?query="+url.QueryEscape(q), &data); err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	if data.ResultType == "scalar" {
		var v [2]any
		if err := json.Unmarshal(data.Result, &v); err != nil {
			return nil, err
		}
		f, err := sampleValue(v[1])
		return []Sample{{Labels: map[string]string{}, Value: f}}, err
	}
	var series []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	if err := json.Unmarshal(data.Result, &series); err != nil {
		return nil, fmt.Errorf("query %s: a %s result is not supported", q, data.ResultType)
	}
	out := make([]Sample, 0, len(series))
	for _, s := range series {
		f, err := sampleValue(s.Value[1])
		if err != nil {
			return nil, err
		}
		out = append(out, Sample{Labels: s.Metric, Value: f})
	}
	return out, nil
}

// Series is one series of a range query: values at even steps, NaN where
// the series had no sample.
type Series struct {
	Labels map[string]string `json:"labels"`
	Points []Point           `json:"points"`
}

// Point is one value of a series at a time.
type Point struct {
	Time  time.Time `json:"time"`
	Value float64   `json:"value"`
}

// QueryRange runs a range query from start to end, one value each step.
func (p Prometheus) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) ([]Series, error) {
	v := url.Values{}
	v.Set("query", q)
	v.Set("start", unixSeconds(start))
	v.Set("end", unixSeconds(end))
	v.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	}
	if err := p.Get(ctx, "/api/v1/query_range?"+v.Encode(), &data); err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	out := make([]Series, 0, len(data.Result))
	for _, r := range data.Result {
		s := Series{Labels: r.Metric}
		for _, tv := range r.Values {
			at, ok := tv[0].(float64)
			if !ok {
				return nil, fmt.Errorf("query %s: sample time %v is not a number", q, tv[0])
			}
			f, err := sampleValue(tv[1])
			if err != nil {
				return nil, err
			}
			s.Points = append(s.Points, Point{Time: secondsTime(at), Value: f})
		}
		out = append(out, s)
	}
	return out, nil
}

// Exemplar is a trace id Prometheus keeps on a sample of a series.
type Exemplar struct {
	Series  map[string]string `json:"series"`
	TraceID string            `json:"trace_id"`
	SpanID  string            `json:"span_id,omitempty"`
	Value   float64           `json:"value"`
	Time    time.Time         `json:"time"`
}

// Exemplars returns the exemplars of the series that match q between start
// and end, oldest first.
func (p Prometheus) Exemplars(ctx context.Context, q string, start, end time.Time) ([]Exemplar, error) {
	v := url.Values{}
	v.Set("query", q)
	v.Set("start", unixSeconds(start))
	v.Set("end", unixSeconds(end))
	var data []struct {
		SeriesLabels map[string]string `json:"seriesLabels"`
		Exemplars    []struct {
			Labels    map[string]string `json:"labels"`
			Value     string            `json:"value"`
			Timestamp float64           `json:"timestamp"`
		} `json:"exemplars"`
	}
	if err := p.Get(ctx, "/api/v1/query_exemplars?"+v.Encode(), &data); err != nil {
		return nil, fmt.Errorf("exemplars of %s: %w", q, err)
	}
	var out []Exemplar
	for _, d := range data {
		for _, e := range d.Exemplars {
			f, err := strconv.ParseFloat(e.Value, 64)
			if err != nil {
				return nil, fmt.Errorf("exemplars of %s: value %q: %w", q, e.Value, err)
			}
			out = append(out, Exemplar{Series: d.SeriesLabels, TraceID: e.Labels["trace_id"], SpanID: e.Labels["span_id"], Value: f, Time: secondsTime(e.Timestamp)})
		}
	}
	sort.SliceStable(out, func(i, k int) bool { return out[i].Time.Before(out[k].Time) })
	return out, nil
}

func unixSeconds(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

func secondsTime(s float64) time.Time {
	return time.UnixMilli(int64(math.Round(s * 1000))).UTC()
}

// Scalar runs a query that has one value (or none: 0).
func (p Prometheus) Scalar(ctx context.Context, q string) (float64, error) {
	s, err := p.Query(ctx, q)
	if err != nil || len(s) == 0 {
		return 0, err
	}
	return s[0].Value, nil
}

// HeadStatus is Prometheus' own view of its in-memory head block: the series
// a hosted Prometheus (Grafana Cloud Mimir) would count as active.
type HeadStatus struct {
	Series        int            `json:"series"`
	SeriesByName  map[string]int `json:"series_by_metric"` // the ten largest metrics
	LabelsByCount map[string]int `json:"values_by_label"`  // the ten labels with most values
}

// Head reads /api/v1/status/tsdb.
func (p Prometheus) Head(ctx context.Context) (HeadStatus, error) {
	type nameValue struct {
		Name  string `json:"name"`
		Value int    `json:"value"`
	}
	var data struct {
		HeadStats struct {
			NumSeries int `json:"numSeries"`
		} `json:"headStats"`
		SeriesCountByMetricName    []nameValue `json:"seriesCountByMetricName"`
		LabelValueCountByLabelName []nameValue `json:"labelValueCountByLabelName"`
	}
	if err := p.Get(ctx, "/api/v1/status/tsdb", &data); err != nil {
		return HeadStatus{}, err
	}
	h := HeadStatus{Series: data.HeadStats.NumSeries, SeriesByName: map[string]int{}, LabelsByCount: map[string]int{}}
	for _, nv := range data.SeriesCountByMetricName {
		h.SeriesByName[nv.Name] = nv.Value
	}
	for _, nv := range data.LabelValueCountByLabelName {
		h.LabelsByCount[nv.Name] = nv.Value
	}
	return h, nil
}

// LabelNames lists the label names of the series that match the selector.
func (p Prometheus) LabelNames(ctx context.Context, match string) ([]string, error) {
	var names []string
	err := p.Get(ctx, "/api/v1/labels?match[]="+url.QueryEscape(match), &names)
	return names, err
}

// RefusedError is Prometheus answering a request with an error: Type is its
// errorType, bad_data for a query that does not parse.
type RefusedError struct {
	HTTPStatus int
	Type       string
	Message    string
}

func (e *RefusedError) Error() string { return "Prometheus: " + e.Message }

// Get calls the HTTP API and decodes the data of a successful answer into
// out. An answer with an error is a *RefusedError.
func (p Prometheus) Get(ctx context.Context, pathAndQuery string, out any) error {
	c := p.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(p.BaseURL, "/")+pathAndQuery, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("Prometheus at %s: %w", p.BaseURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	var doc struct {
		Status    string          `json:"status"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("Prometheus at %s: HTTP %d: not JSON", p.BaseURL, resp.StatusCode)
	}
	if doc.Status != "success" {
		return &RefusedError{HTTPStatus: resp.StatusCode, Type: doc.ErrorType, Message: doc.Error}
	}
	return json.Unmarshal(doc.Data, out)
}

func sampleValue(v any) (float64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("sample value %v is not a string", v)
	}
	return strconv.ParseFloat(s, 64)
}
