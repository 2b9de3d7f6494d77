package lookup

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
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

// Get calls the HTTP API and decodes the data of a successful answer into out.
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
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("Prometheus at %s: HTTP %d: not JSON", p.BaseURL, resp.StatusCode)
	}
	if doc.Status != "success" {
		return fmt.Errorf("Prometheus: %s", doc.Error)
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
