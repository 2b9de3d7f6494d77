package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starmates-ai/ai-teams/internal/httpjson"
	"github.com/starmates-ai/ai-teams/services/apigateway"
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
	warm := promScalar(t, prometheusURL, countQ)
	sendLoad(t, key, 0, 8)
	waitCounted(t, countQ, warm+8)
	before := promScalar(t, prometheusURL, appSeriesQ)
	counted := promScalar(t, prometheusURL, countQ)

	start := time.Now()
	sendLoad(t, key, 8, 8+loadRequests)
	took := time.Since(start)
	waitCounted(t, countQ, counted+loadRequests)
	after := promScalar(t, prometheusURL, appSeriesQ)

	measure(t, "cardinality: %d requests (distinct users, sessions, unknown paths) in %v; service series before %v, after %v (bound: +%d, < %d)",
		loadRequests, took.Round(time.Millisecond), before, after, maxNewSeries, maxAppSeries)
	if after-before > maxNewSeries {
		t.Errorf("series grew by %v (> %d): some label is unbounded", after-before, maxNewSeries)
		t.Logf("largest metrics: %v", promQuery(t, prometheusURL, `topk(10, count by (__name__) ({job=~"api-gateway|workflow-agent|workflow-engine"}))`))
	}
	if after >= maxAppSeries {
		t.Errorf("%v series, bound %d", after, maxAppSeries)
	}
	// The ids themselves are nowhere in a label.
	for _, label := range []string{"user_id", "session_id", "tracking_id", "trace_id", "path"} {
		if withLabel := promQuery(t, prometheusURL, fmt.Sprintf(`count({job=~"api-gateway|workflow-agent|workflow-engine",%s!=""})`, label)); len(withLabel) > 0 {
			t.Errorf("label %s exists on %v series", label, withLabel[0].Value)
		}
	}
}

func waitCounted(t *testing.T, q string, want float64) {
	t.Helper()
	poll(t, 3*time.Minute, "load counted in Prometheus", func() (bool, string) {
		got := promScalar(t, prometheusURL, q)
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
	hc := &http.Client{Timeout: 10 * time.Second}
	gw := apigateway.NewClient(gatewayURL, key, hc)
	ctx := context.Background()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				var err error
				switch i % 4 {
				case 0:
					_, _, err = gw.CreateSession(ctx, apigateway.CreateSessionRequest{UserID: fmt.Sprintf("load_user_%d", i)})
				case 1:
					err = getUnrouted(hc, key, fmt.Sprintf("%s/unknown/%d/path-%x", gatewayURL, i, i*7919))
				case 2:
					_, _, err = gw.GetSession(ctx, fmt.Sprintf("sess_load_%d", i))
				default:
					_, _, err = gw.CreateWorkflow(ctx, apigateway.CreateWorkflowRequest{
						UserID: fmt.Sprintf("load_user_%d", i), SessionID: fmt.Sprintf("sess_load_%d", i), Goal: "g"})
				}
				// A 4xx is the answer these shapes expect; only a transport
				// error or a 5xx is a failure.
				var answered *httpjson.RemoteError
				if err != nil && (!errors.As(err, &answered) || answered.Status >= 500) {
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

// getUnrouted asks for a path outside the API, which the typed client has
// no method for; only a transport error or a 5xx is an error.
func getUnrouted(hc *http.Client, key, url string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return &httpjson.RemoteError{URL: url, Status: resp.StatusCode}
	}
	return nil
}
