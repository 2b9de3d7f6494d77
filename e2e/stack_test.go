package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/starmates-ai/ai-teams/services/apigateway"
)

// The stack tests run against the real processes `scripts/stack.sh up`
// starts (make test does): collector, Jaeger v2, Prometheus and the three
// services. They are skipped when AI_TEAMS_STACK is unset, and fail in CI
// when it is.

const (
	gatewayURL    = "http://127.0.0.1:8080"
	jaegerURL     = "http://127.0.0.1:16686"
	prometheusURL = "http://127.0.0.1:9090"
	collectorURL  = "http://127.0.0.1:13133"
)

func requireStack(t *testing.T) string {
	t.Helper()
	if os.Getenv("AI_TEAMS_STACK") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("AI_TEAMS_STACK is unset in CI: make test must start the stack")
		}
		t.Skip("AI_TEAMS_STACK unset: run `make test` (it starts the stack) or `scripts/stack.sh up`")
	}
	key, err := os.ReadFile(filepath.Join(repoRoot(t), ".run", "demo-api-key"))
	if err != nil {
		t.Fatalf("demo API key: %v", err)
	}
	return strings.TrimSpace(string(key))
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}

// measure records a figure for the closing report (make test prints the file).
func measure(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	f, err := os.OpenFile(filepath.Join(repoRoot(t), ".run", "measurements.txt"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err == nil {
		fmt.Fprintf(f, "%s %s\n", time.Now().UTC().Format(time.RFC3339), line)
		f.Close()
	}
}

// poll calls check every 200 ms until it returns true or the deadline passes.
func poll(t *testing.T, within time.Duration, what string, check func() (bool, string)) {
	t.Helper()
	start := time.Now()
	last := ""
	for {
		ok, state := check()
		if ok {
			return
		}
		last = state
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v; last state: %s", what, within, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func getJSON(url string, out any) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	return resp.StatusCode, json.Unmarshal(b, out)
}

// postWorkflow runs a workflow on the stack's gateway and returns its
// tracking id and when the answer came. A #partial or #fail goal still
// answers 201, with the run's status.
func postWorkflow(t *testing.T, key, goal string) (string, time.Time) {
	t.Helper()
	gw := apigateway.NewClient(gatewayURL, key, nil)
	_, tid, err := gw.CreateWorkflow(context.Background(), apigateway.CreateWorkflowRequest{UserID: "user_stack", Goal: goal})
	if err != nil {
		t.Fatalf("workflow %q: %v", goal, err)
	}
	return tid, time.Now()
}

// gatewayCall sends one raw request to the stack's gateway (with the API
// key when key is set) and fails the test unless the status is want.
func gatewayCall(t *testing.T, key, method, path, body string, want int) ([]byte, http.Header) {
	t.Helper()
	return callGateway(t, gatewayURL, key, method, path, body, want)
}

// callGateway is gatewayCall for the gateway at base. It is for what the
// typed client (apigateway.Client) cannot send: bodies that break the
// contract and paths outside the API.
func callGateway(t *testing.T, base, key, method, path, body string, want int) ([]byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	return b, resp.Header
}

type jaegerTrace struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			TraceID       string `json:"traceID"`
			OperationName string `json:"operationName"`
			ProcessID     string `json:"processID"`
			Tags          []struct {
				Key   string `json:"key"`
				Value any    `json:"value"`
			} `json:"tags"`
			Logs []struct {
				Fields []struct {
					Key   string `json:"key"`
					Value any    `json:"value"`
				} `json:"fields"`
			} `json:"logs"`
		} `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
		} `json:"processes"`
	} `json:"data"`
}

func TestStackTraceInJaeger(t *testing.T) {
	key := requireStack(t)
	// #partial makes one engine step fail: an ERROR log inside the request.
	tid, done := postWorkflow(t, key, "prepare the launch checklist #partial")
	if len(tid) != 32 {
		t.Fatalf("X-Tracking-ID %q", tid)
	}
	var tr jaegerTrace
	want := []string{"api-gateway", "workflow-agent", "workflow-engine"}
	poll(t, 60*time.Second, "trace with three services in Jaeger", func() (bool, string) {
		tr = jaegerTrace{}
		code, err := getJSON(jaegerURL+"/api/traces/"+tid, &tr)
		if err != nil || code != 200 || len(tr.Data) == 0 {
			return false, fmt.Sprintf("HTTP %d %v", code, err)
		}
		seen := services(tr)
		for _, s := range want {
			if !seen[s] {
				return false, fmt.Sprintf("services so far: %v", seen)
			}
		}
		// Each service exports in its own batches: the gateway's DB span may
		// come a batch after its client spans.
		db, ev, ex := traceParts(tr)
		return db && ev && ex, fmt.Sprintf("db span %v, error_log event %v, exception %v", db, ev, ex)
	})
	measure(t, "delay response → trace (3 services) in Jaeger: %v (polled every 200ms)", time.Since(done).Round(time.Millisecond))

	d := tr.Data[0]
	if d.TraceID != tid {
		t.Errorf("Jaeger trace id %s != X-Tracking-ID %s", d.TraceID, tid)
	}
}

// traceParts reports whether the trace has a database span, an error_log
// event and an exception event.
func traceParts(tr jaegerTrace) (dbSpan, errorEvent, exception bool) {
	for _, d := range tr.Data {
		for _, sp := range d.Spans {
			for _, tag := range sp.Tags {
				if tag.Key == "db.system.name" {
					dbSpan = true
				}
			}
			for _, l := range sp.Logs {
				for _, f := range l.Fields {
					if f.Key == "event" && f.Value == "error_log" {
						errorEvent = true
					}
					if f.Key == "event" && f.Value == "exception" {
						exception = true
					}
				}
			}
		}
	}
	return dbSpan, errorEvent, exception
}

func services(tr jaegerTrace) map[string]bool {
	seen := map[string]bool{}
	for _, d := range tr.Data {
		for _, sp := range d.Spans {
			seen[d.Processes[sp.ProcessID].ServiceName] = true
		}
	}
	return seen
}

// TestStackMetricsInPrometheus counts exactly this test's requests: they go
// to a gateway, agent and engine of its own whose service names no other
// run uses, so the counters show those requests and nothing else.
func TestStackMetricsInPrometheus(t *testing.T) {
	requireStack(t)
	tr := startTrio(t)
	const workflows = 3
	var done time.Time
	for i := range workflows {
		req := apigateway.CreateWorkflowRequest{UserID: "user_metrics", Goal: fmt.Sprintf("count this request %d", i)}
		if _, _, err := tr.client.CreateWorkflow(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		done = time.Now()
	}
	for _, svc := range tr.services {
		countQ := fmt.Sprintf(`sum(request_count{service=%q})`, svc)
		poll(t, 90*time.Second, svc+"'s requests counted in Prometheus", func() (bool, string) {
			now := promScalar(t, prometheusURL, countQ)
			return now == workflows, fmt.Sprintf("count %v, want %d", now, workflows)
		})
		if svc == tr.services[0] {
			measure(t, "delay response → metric in Prometheus: %v (SDK export 2s, scrape 5s, polled every 200ms)", time.Since(done).Round(time.Millisecond))
		}
	}

	series := promQuery(t, prometheusURL, fmt.Sprintf(`count by (service, environment, project) (request_count{service=~%q})`, tr.serviceRegex()))
	if len(series) != len(tr.services) {
		t.Errorf("want one environment and project per service, got %v", series)
	}
	for _, s := range series {
		if s.Labels["environment"] != "dev" || s.Labels["project"] != "starmates-ai-team" {
			t.Errorf("series with environment %q project %q: %v", s.Labels["environment"], s.Labels["project"], s.Labels)
		}
	}

	checkExemplars(t, tr)
}

// checkExemplars: a request's trace id rides as an exemplar on the counter
// and the histogram of its series. The series belong to this test's own
// gateway, so every exemplar there is one of this test's requests; the SDK
// keeps a sample of them, so it accepts any of up to five requests' ids.
func checkExemplars(t *testing.T, tr trio) {
	t.Helper()
	start := time.Now()
	sent := map[string]bool{}
	for _, q := range []string{
		fmt.Sprintf(`request_count{service=%q,endpoint="/api/v1/sessions/{id}",status_code="404"}`, tr.services[0]),
		fmt.Sprintf(`request_duration_seconds_bucket{service=%q,endpoint="/api/v1/sessions/{id}"}`, tr.services[0]),
	} {
		found := false
		for attempt := 0; attempt < 5 && !found; attempt++ {
			_, _, err := tr.client.GetSession(context.Background(), "sess_missing")
			sent[wantRemoteError(t, err, http.StatusNotFound, "not_found").TrackingID] = true
			deadline := time.Now().Add(15 * time.Second)
			for time.Now().Before(deadline) && !found {
				for id := range exemplarTraceIDs(t, q, start, time.Now()) {
					if !sent[id] {
						t.Fatalf("exemplar %s of %s is no request of this test", id, q)
					}
					found = true
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		if !found {
			t.Errorf("none of %d trace ids became an exemplar of %s", len(sent), q)
		}
	}
}

func TestStackCollectorHealthy(t *testing.T) {
	requireStack(t)
	resp, err := http.Get(collectorURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("collector health: %d", resp.StatusCode)
	}
	// Both collector targets (own metrics :8888, app metrics :8889) scraped and up;
	// right after start-up the first scrape may not have happened yet.
	poll(t, 30*time.Second, "collector targets up in Prometheus", func() (bool, string) {
		up := promQuery(t, prometheusURL, `up{job=~"otel-collector|otel-collector-app"} == 1`)
		return len(up) == 2, fmt.Sprintf("%v", up)
	})
}

// TestStackLogsOverOTLP checks the second log path: the records a service
// writes to stdout also reach the collector over OTLP, with their trace
// context (the local profile writes them to .run/otel-logs.jsonl).
func TestStackLogsOverOTLP(t *testing.T) {
	key := requireStack(t)
	records := newFileTail(t, filepath.Join(repoRoot(t), ".run", "otel-logs.jsonl"))
	tid, _ := postWorkflow(t, key, "otlp logs check #fail")
	poll(t, 30*time.Second, "ERROR record with the trace id in the collector's log file", func() (bool, string) {
		b, err := os.ReadFile(records.path)
		if err != nil {
			return false, err.Error()
		}
		if int64(len(b)) >= records.offset {
			b = b[records.offset:]
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, tid) {
				continue
			}
			var doc struct {
				ResourceLogs []struct {
					ScopeLogs []struct {
						LogRecords []struct {
							TraceID        string `json:"traceId"`
							SeverityText   string `json:"severityText"`
							SeverityNumber int    `json:"severityNumber"`
							Body           struct {
								StringValue string `json:"stringValue"`
							} `json:"body"`
						} `json:"logRecords"`
					} `json:"scopeLogs"`
				} `json:"resourceLogs"`
			}
			if json.Unmarshal([]byte(line), &doc) != nil {
				continue
			}
			for _, rl := range doc.ResourceLogs {
				for _, sl := range rl.ScopeLogs {
					for _, r := range sl.LogRecords {
						if r.TraceID == tid && r.Body.StringValue == "workflow step failed" && r.SeverityNumber >= 17 {
							return true, ""
						}
					}
				}
			}
		}
		return false, "no matching record yet"
	})
}
