package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/starmates-ai/ai-teams/internal/httpjson"
	"github.com/starmates-ai/ai-teams/services/apigateway"
)

// TestStackAlertReachesOnCall injects errors and follows one alert the
// whole way: a staging gateway whose workflow-agent is down answers 502;
// the SLO fast-burn alert must reach `firing` in Prometheus and arrive at
// a real Alertmanager, which delivers it to the stack's on-call webhook
// (oncall-webhook, the stand-in for Grafana OnCall), which keeps it in
// .run/oncall-notifications.jsonl.
func TestStackAlertReachesOnCall(t *testing.T) {
	requireStack(t)
	root := repoRoot(t)
	notifications := newFileTail(t, filepath.Join(root, ".run", "oncall-notifications.jsonl"))

	// A staging gateway, its agent unreachable: every workflow is a 502. Its
	// service name is new each run, so each run's alert is a new alert group
	// that Alertmanager delivers (a repeat of a firing one would wait for
	// repeat_interval) and no earlier run's notification can match.
	deadAgent := refusingAddr(t)
	service := "api-gateway-" + uniqueSuffix()
	out, exited := startProcess(t, "gateway-staging", root, []string{
		"ENVIRONMENT=staging", "ADDR=127.0.0.1:0", "OTEL_SERVICE_NAME=" + service, "DATA_DIR=" + t.TempDir(), "API_KEYS=alert:alert-key-1",
		"WORKFLOW_AGENT_URL=http://" + deadAgent, "OTEL_EXPORTER_OTLP_ENDPOINT=127.0.0.1:4317",
		"OTEL_METRIC_EXPORT_INTERVAL=2000",
	}, filepath.Join(root, ".bin", "api-gateway"))
	gw := apigateway.NewClient("http://"+serviceAddr(t, "gateway-staging", out, exited), "alert-key-1", nil)

	var mu sync.Mutex
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
			_, _, err := gw.CreateWorkflow(ctx, apigateway.CreateWorkflowRequest{UserID: "u_alert", Goal: "anything"})
			var answered *httpjson.RemoteError
			if errors.As(err, &answered) && answered.Status == http.StatusBadGateway {
				mu.Lock()
				errorsSent++
				mu.Unlock()
			}
		}
	}()
	defer inject.Wait()
	defer stop()
	start := time.Now()

	const alert = "SLOErrorBudgetBurnFast"
	firingQ := fmt.Sprintf(`ALERTS{alertname=%q,alertstate="firing",environment="staging",service=%q}`, alert, service)
	poll(t, 4*time.Minute, alert+" firing in Prometheus", func() (bool, string) {
		firingSeries := promQuery(t, prometheusURL, firingQ)
		mu.Lock()
		defer mu.Unlock()
		return len(firingSeries) > 0, fmt.Sprintf("%d errors sent", errorsSent)
	})
	firing := time.Since(start)

	poll(t, 2*time.Minute, alert+" delivered by Alertmanager to the on-call webhook", func() (bool, string) {
		lines := notifications.lines(t)
		for _, l := range lines {
			n, _ := l["notification"].(map[string]any)
			alerts, _ := n["alerts"].([]any)
			for _, a := range alerts {
				a, _ := a.(map[string]any)
				labels, _ := a["labels"].(map[string]any)
				if a["status"] == "firing" && labels["alertname"] == alert && labels["service"] == service && labels["severity"] == "page" {
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("%d notifications so far in this run", len(lines))
	})
	delivered := time.Since(start)
	measure(t, "injected errors → %s firing in Prometheus: %v; delivered to the on-call webhook: %v", alert, firing.Round(time.Second), delivered.Round(time.Second))
}
