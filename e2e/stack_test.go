package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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

func postWorkflow(t *testing.T, key, goal string) (string, time.Time) {
	t.Helper()
	_, hdr := gatewayCall(t, key, "POST", "/api/v1/workflows", fmt.Sprintf(`{"user_id":"user_stack","goal":%q}`, goal), http.StatusCreated)
	return hdr.Get("X-Tracking-ID"), time.Now()
}

// gatewayCall sends one request to the stack's gateway (with the API key
// when key is set) and fails the test unless the status is want.
func gatewayCall(t *testing.T, key, method, path, body string, want int) ([]byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, gatewayURL+path, strings.NewReader(body))
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
		return true, ""
	})
	measure(t, "delay response → trace (3 services) in Jaeger: %v (polled every 200ms)", time.Since(done).Round(time.Millisecond))

	d := tr.Data[0]
	if d.TraceID != tid {
		t.Errorf("Jaeger trace id %s != X-Tracking-ID %s", d.TraceID, tid)
	}
	var dbSpan, errorEvent, exception bool
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
	if !dbSpan || !errorEvent || !exception {
		t.Errorf("db span %v, error_log event %v, exception %v", dbSpan, errorEvent, exception)
	}
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

type promResult struct {
	Status string `json:"status"`
	Data   struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
	Error string `json:"error"`
}

func promQuery(t *testing.T, q string) promResult {
	t.Helper()
	var r promResult
	if _, err := getJSON(prometheusURL+"/api/v1/query?query="+url.QueryEscape(q), &r); err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	if r.Status != "success" {
		t.Fatalf("query %s: %s", q, r.Error)
	}
	return r
}

func scalar(r promResult) float64 {
	if len(r.Data.Result) == 0 {
		return 0
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

func TestStackMetricsInPrometheus(t *testing.T) {
	key := requireStack(t)
	const countQ = `sum(request_count{service="api-gateway",endpoint="/api/v1/workflows"})`
	before := scalar(promQuery(t, countQ))
	_, done := postWorkflow(t, key, "count this request")
	poll(t, 90*time.Second, "gateway request counted in Prometheus", func() (bool, string) {
		now := scalar(promQuery(t, countQ))
		return now > before, fmt.Sprintf("count %v (before %v)", now, before)
	})
	measure(t, "delay response → metric in Prometheus: %v (SDK export 5s, scrape 5s, polled every 200ms)", time.Since(done).Round(time.Millisecond))

	r := promQuery(t, `count by (service, environment, project) (request_count)`)
	seen := map[string]bool{}
	for _, s := range r.Data.Result {
		if s.Metric["environment"] == "" || s.Metric["project"] == "" {
			t.Errorf("series without environment/project: %v", s.Metric)
		}
		seen[s.Metric["service"]] = true
	}
	for _, svc := range []string{"api-gateway", "workflow-agent", "workflow-engine"} {
		if !seen[svc] {
			t.Errorf("no HTTP metrics from %s in Prometheus (have %v)", svc, seen)
		}
	}

	checkExemplars(t, key)
}

// checkExemplars: a request's trace id rides as an exemplar on the counter
// and the histogram of its series. Exemplars are sampled (the SDK keeps a
// few per series per export, the exporter one per counter sample), so it
// uses a series only this test touches (GET of a missing session: 404) and
// accepts any of up to five requests' trace ids.
func checkExemplars(t *testing.T, key string) {
	t.Helper()
	start := time.Now()
	sent := map[string]bool{}
	for _, q := range []string{
		`request_count{service="api-gateway",endpoint="/api/v1/sessions/{id}",status_code="404"}`,
		`request_duration_seconds_bucket{service="api-gateway",endpoint="/api/v1/sessions/{id}"}`,
	} {
		found := false
		for attempt := 0; attempt < 5 && !found; attempt++ {
			sent[getMissingSession(t, key)] = true
			deadline := time.Now().Add(15 * time.Second)
			for time.Now().Before(deadline) && !found {
				for id := range exemplarTraceIDs(t, q, start, time.Now()) {
					found = found || sent[id]
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		if !found {
			t.Errorf("none of %d trace ids became an exemplar of %s", len(sent), q)
		}
	}
}

func getMissingSession(t *testing.T, key string) string {
	t.Helper()
	_, hdr := gatewayCall(t, key, "GET", "/api/v1/sessions/sess_missing", "", http.StatusNotFound)
	return hdr.Get("X-Tracking-ID")
}

// exemplarTraceIDs returns the trace ids of the exemplars of q's series.
func exemplarTraceIDs(t *testing.T, q string, from, to time.Time) map[string]bool {
	t.Helper()
	var r struct {
		Data []struct {
			Exemplars []struct {
				Labels map[string]string `json:"labels"`
			} `json:"exemplars"`
		} `json:"data"`
	}
	u := fmt.Sprintf("%s/api/v1/query_exemplars?query=%s&start=%d&end=%d", prometheusURL, url.QueryEscape(q), from.Unix(), to.Unix()+1)
	if _, err := getJSON(u, &r); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, d := range r.Data {
		for _, e := range d.Exemplars {
			ids[e.Labels["trace_id"]] = true
		}
	}
	return ids
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
		r := promQuery(t, `up{job=~"otel-collector|otel-collector-app"} == 1`)
		return len(r.Data.Result) == 2, fmt.Sprintf("%v", r.Data.Result)
	})
}

// TestStackLogsOverOTLP checks the second log path: the records a service
// writes to stdout also reach the collector over OTLP, with their trace
// context (the local profile writes them to .run/otel-logs.jsonl).
func TestStackLogsOverOTLP(t *testing.T) {
	key := requireStack(t)
	tid, _ := postWorkflow(t, key, "otlp logs check #fail")
	path := filepath.Join(repoRoot(t), ".run", "otel-logs.jsonl")
	poll(t, 30*time.Second, "ERROR record with the trace id in the collector's log file", func() (bool, string) {
		b, err := os.ReadFile(path)
		if err != nil {
			return false, err.Error()
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
