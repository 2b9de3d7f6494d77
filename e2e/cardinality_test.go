package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Cardinality bounds of the load check: 10 000 requests with 10 000
// distinct users, sessions and unknown paths may add at most
// maxNewSeries series to the services' metrics, and the services' total
// stays under maxAppSeries (Grafana Cloud's free tier allows 10 000).
const (
	loadRequests = 10000
	maxNewSeries = 60
	maxAppSeries = 1500
)

const appSeriesQ = `count({job=~"api-gateway|workflow-agent|workflow-engine"})`

// TestStackCardinality is the load check of issue 5.
func TestStackCardinality(t *testing.T) {
	key := requireStack(t)
	// Only the stack's own (dev) gateway: other tests run gateways in other environments.
	const countQ = `sum(request_count{service="api-gateway",environment="dev"})`

	// A first pass of every request shape, so the series they legitimately
	// create exist before "before" is read.
	warm := scalar(promQuery(t, countQ))
	sendLoad(t, key, 0, 8)
	waitCounted(t, countQ, warm+8)
	before := scalar(promQuery(t, appSeriesQ))
	counted := scalar(promQuery(t, countQ))

	start := time.Now()
	sendLoad(t, key, 8, 8+loadRequests)
	took := time.Since(start)
	waitCounted(t, countQ, counted+loadRequests)
	after := scalar(promQuery(t, appSeriesQ))

	measure(t, "cardinality: %d requests (distinct users, sessions, unknown paths) in %v; service series before %v, after %v (bound: +%d, < %d)",
		loadRequests, took.Round(time.Millisecond), before, after, maxNewSeries, maxAppSeries)
	if after-before > maxNewSeries {
		t.Errorf("series grew by %v (> %d): some label is unbounded", after-before, maxNewSeries)
		r := promQuery(t, `topk(10, count by (__name__) ({job=~"api-gateway|workflow-agent|workflow-engine"}))`)
		t.Logf("largest metrics: %v", r.Data.Result)
	}
	if after >= maxAppSeries {
		t.Errorf("%v series, bound %d", after, maxAppSeries)
	}
	// The ids themselves are nowhere in a label.
	for _, label := range []string{"user_id", "session_id", "tracking_id", "trace_id", "path"} {
		if r := promQuery(t, fmt.Sprintf(`count({job=~"api-gateway|workflow-agent|workflow-engine",%s!=""})`, label)); len(r.Data.Result) > 0 {
			t.Errorf("label %s exists on %v series", label, scalar(r))
		}
	}
}

func waitCounted(t *testing.T, q string, want float64) {
	t.Helper()
	poll(t, 3*time.Minute, "load counted in Prometheus", func() (bool, string) {
		got := scalar(promQuery(t, q))
		return got >= want, fmt.Sprintf("%v of %v", got, want)
	})
}

// sendLoad sends requests [from, to) with 8 workers. Request i uses user
// load_user_i, session sess_load_i and a path with i in it, cycling through
// four shapes: create session (201), unknown path (404), missing session
// (404 on a route) and a workflow in a missing session (404).
func sendLoad(t *testing.T, key string, from, to int) {
	t.Helper()
	var next atomic.Int64
	next.Store(int64(from))
	var failed atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				var req *http.Request
				switch i % 4 {
				case 0:
					req, _ = http.NewRequest("POST", gatewayURL+"/api/v1/sessions", strings.NewReader(fmt.Sprintf(`{"user_id":"load_user_%d"}`, i)))
				case 1:
					req, _ = http.NewRequest("GET", fmt.Sprintf("%s/unknown/%d/path-%x", gatewayURL, i, i*7919), nil)
				case 2:
					req, _ = http.NewRequest("GET", fmt.Sprintf("%s/api/v1/sessions/sess_load_%d", gatewayURL, i), nil)
				default:
					req, _ = http.NewRequest("POST", gatewayURL+"/api/v1/workflows",
						strings.NewReader(fmt.Sprintf(`{"user_id":"load_user_%d","session_id":"sess_load_%d","goal":"g"}`, i, i)))
				}
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode >= 500 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d requests failed (transport error or 5xx)", n)
	}
}
