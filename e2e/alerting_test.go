package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// webhookAddr is where monitoring/alertmanager.yml delivers (the stand-in
// for the design guide's Grafana OnCall integration).
const webhookAddr = "127.0.0.1:9095"

// TestStackAlertReachesOnCall injects errors and follows one alert the
// whole way: a staging gateway whose workflow-agent is down answers 502;
// the SLO fast-burn alert must reach `firing` in Prometheus and arrive at
// a real Alertmanager, which delivers it to this test's webhook.
func TestStackAlertReachesOnCall(t *testing.T) {
	requireStack(t)
	root := repoRoot(t)

	type notification struct {
		Status string `json:"status"`
		Alerts []struct {
			Status string            `json:"status"`
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
	}
	var mu sync.Mutex
	var received []notification
	ln, err := net.Listen("tcp", webhookAddr)
	if err != nil {
		t.Fatalf("the webhook receiver needs %s: %v", webhookAddr, err)
	}
	hook := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var n notification
		if json.Unmarshal(b, &n) == nil {
			mu.Lock()
			received = append(received, n)
			mu.Unlock()
		}
	})}
	go func() { _ = hook.Serve(ln) }()
	t.Cleanup(func() { _ = hook.Shutdown(context.Background()) })

	// A staging gateway, its agent unreachable: every workflow is a 502. Its
	// service name is new each run, so each run's alert is a new alert group
	// that Alertmanager delivers (a repeat of a firing one would wait for
	// repeat_interval).
	addr, deadAgent := freeAddr(t), freeAddr(t)
	service := fmt.Sprintf("api-gateway-e2e-%d", time.Now().Unix()%100000)
	startProcess(t, "gateway-staging", root, []string{
		"ENVIRONMENT=staging", "ADDR=" + addr, "OTEL_SERVICE_NAME=" + service, "DATA_DIR=" + t.TempDir(), "API_KEYS=alert:alert-key-1",
		"WORKFLOW_AGENT_URL=http://" + deadAgent, "OTEL_EXPORTER_OTLP_ENDPOINT=127.0.0.1:4317",
		"OTEL_METRIC_EXPORT_INTERVAL=2000",
	}, filepath.Join(root, ".bin", "api-gateway"))
	waitHealthy(t, "http://"+addr+"/healthz")

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var errorsSent int
	var inject sync.WaitGroup
	inject.Add(1)
	go func() { // steady errors, 4 a second, until the test ends
		defer inject.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/api/v1/workflows", strings.NewReader(`{"user_id":"u_alert","goal":"anything"}`))
			req.Header.Set("X-API-Key", "alert-key-1")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusBadGateway {
					mu.Lock()
					errorsSent++
					mu.Unlock()
				}
			}
		}
	}()
	defer inject.Wait()
	defer stop()
	start := time.Now()

	const alert = "SLOErrorBudgetBurnFast"
	firingQ := fmt.Sprintf(`ALERTS{alertname=%q,alertstate="firing",environment="staging",service=%q}`, alert, service)
	poll(t, 4*time.Minute, alert+" firing in Prometheus", func() (bool, string) {
		r := promQuery(t, firingQ)
		mu.Lock()
		defer mu.Unlock()
		return len(r.Data.Result) > 0, fmt.Sprintf("%d errors sent", errorsSent)
	})
	firing := time.Since(start)

	poll(t, 2*time.Minute, alert+" delivered by Alertmanager to the webhook", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range received {
			for _, a := range n.Alerts {
				if a.Status == "firing" && a.Labels["alertname"] == alert && a.Labels["service"] == service && a.Labels["severity"] == "page" {
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("%d notifications so far", len(received))
	})
	delivered := time.Since(start)
	measure(t, "injected errors → %s firing in Prometheus: %v; delivered to the on-call webhook: %v", alert, firing.Round(time.Second), delivered.Round(time.Second))
}
