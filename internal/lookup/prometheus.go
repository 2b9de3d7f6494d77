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
	c := p.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	u := strings.TrimRight(p.BaseURL, "/") + "/api/v1/query?query=" + url.QueryEscape(q)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("Prometheus at %s: %w", p.BaseURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	var doc struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("Prometheus at %s: HTTP %d: not JSON", p.BaseURL, resp.StatusCode)
	}
	if doc.Status != "success" {
		return nil, fmt.Errorf("Prometheus query %s: %s", q, doc.Error)
	}
	if doc.Data.ResultType == "scalar" {
		var v [2]any
		if err := json.Unmarshal(doc.Data.Result, &v); err != nil {
			return nil, err
		}
		f, err := sampleValue(v[1])
		return []Sample{{Labels: map[string]string{}, Value: f}}, err
	}
	var series []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	if err := json.Unmarshal(doc.Data.Result, &series); err != nil {
		return nil, fmt.Errorf("Prometheus query %s: a %s result is not supported", q, doc.Data.ResultType)
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

func sampleValue(v any) (float64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("sample value %v is not a string", v)
	}
	return strconv.ParseFloat(s, 64)
}
