package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/starmates-ai/ai-teams/services/apigateway"
	"github.com/starmates-ai/ai-teams/services/workflowagent"
	"github.com/starmates-ai/ai-teams/services/workflowengine"
	"github.com/starmates-ai/ai-teams/telemetry"
)

const downstreamTestKey = "downstream-test-key"

// recordedTelemetry records spans in rec and metrics in a manual reader.
func recordedTelemetry(t *testing.T, rec *tracetest.SpanRecorder) *telemetry.Telemetry {
	t.Helper()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	m, err := telemetry.NewMetrics(mp, "api-gateway")
	if err != nil {
		t.Fatal(err)
	}
	return &telemetry.Telemetry{
		Config:         telemetry.Config{ServiceName: "api-gateway"},
		Logger:         slog.New(slog.DiscardHandler),
		TracerProvider: tp,
		MeterProvider:  mp,
		Propagator:     telemetry.DefaultPropagator(),
		Metrics:        m,
	}
}

// refusedURL is the URL of a server that was closed: connections are
// refused by the kernel, as when a service is down.
func refusedURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}

// stubService answers every request with answer after waiting delay, or
// until the caller gives up.
func stubService(t *testing.T, delay time.Duration, answer any) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read to the end: only then does net/http watch the connection
		// and cancel r's context when the caller hangs up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

var (
	stubPlan = workflowagent.GenerateResponse{Plan: workflowagent.Plan{WorkflowID: "wf_1", Type: "simple",
		Steps: []workflowagent.Step{{ID: "s1", Name: "fetch", Action: "fetch"}}}}
	stubResult = workflowengine.ExecuteResponse{WorkflowID: "wf_1", Status: workflowengine.StatusCompleted,
		Steps: []workflowengine.StepResult{{ID: "s1", Name: "fetch", Status: "completed"}}}
)

// A downstream service that is down or slow gets a JSON 502 or 504 with the
// tracking id, within the downstream timeout, and the trace shows the
// failed hop as a client span with error status.
func TestDownstreamFailureAnswers(t *testing.T) {
	const timeout = 300 * time.Millisecond
	// Slow enough never to answer within the timeout; the stub gives up
	// when the gateway does.
	const stuck = time.Minute
	for _, tc := range []struct {
		name              string
		agentURL          func(t *testing.T) string
		engineURL         func(t *testing.T) string
		status            int
		code, failedRoute string
	}{
		{"agent refused", refusedURL, func(t *testing.T) string { return stubService(t, 0, stubResult) },
			http.StatusBadGateway, "downstream_unavailable", workflowagent.GeneratePath},
		{"engine refused", func(t *testing.T) string { return stubService(t, 0, stubPlan) }, refusedURL,
			http.StatusBadGateway, "downstream_unavailable", workflowengine.ExecutePath},
		{"agent slow", func(t *testing.T) string { return stubService(t, stuck, stubPlan) },
			func(t *testing.T) string { return stubService(t, 0, stubResult) },
			http.StatusGatewayTimeout, "downstream_timeout", workflowagent.GeneratePath},
		{"engine slow", func(t *testing.T) string { return stubService(t, 0, stubPlan) },
			func(t *testing.T) string { return stubService(t, stuck, stubResult) },
			http.StatusGatewayTimeout, "downstream_timeout", workflowengine.ExecutePath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spans := tracetest.NewSpanRecorder()
			gw, err := Open(context.Background(), Config{
				APIKeys:           "test:" + downstreamTestKey,
				DataDir:           t.TempDir(),
				AgentURL:          tc.agentURL(t),
				EngineURL:         tc.engineURL(t),
				DownstreamTimeout: timeout,
			}, recordedTelemetry(t, spans))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { gw.Close() })
			srv := httptest.NewServer(gw.Handler)
			t.Cleanup(srv.Close)

			start := time.Now()
			status, header, body := postWorkflow(t, srv.URL)
			elapsed := time.Since(start)
			tid := header.Get(telemetry.HeaderTrackingID)
			t.Logf("answered %d in %v", status, elapsed)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			var eb telemetry.ErrorBody
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code != tc.code || eb.TrackingID == "" || eb.TrackingID != tid {
				t.Errorf("body %s (%v): want code %s and tracking_id = X-Tracking-ID %q", body, err, tc.code, tid)
			}
			if tc.status == http.StatusGatewayTimeout && (elapsed < timeout || elapsed > timeout+5*time.Second) {
				t.Errorf("504 after %v; the downstream timeout is %v", elapsed, timeout)
			}
			checkFailedHop(t, spans, tid, tc.failedRoute)
		})
	}
}

// testClient gives up long after any answer the tests expect, so a request
// that is held instead of answered fails the test instead of hanging it.
var testClient = &http.Client{Timeout: 20 * time.Second}

func postWorkflow(t *testing.T, base string) (status int, header http.Header, body []byte) {
	t.Helper()
	status, header, body, err := sendWorkflow(base)
	if err != nil {
		t.Fatal(err)
	}
	return status, header, body
}

// sendWorkflow is postWorkflow for goroutines, which must not call t.Fatal.
func sendWorkflow(base string) (status int, header http.Header, body []byte, err error) {
	req, _ := http.NewRequest(http.MethodPost, base+apigateway.WorkflowsPath, strings.NewReader(`{"user_id":"u1","goal":"plan a trip"}`))
	req.Header.Set("Authorization", "Bearer "+downstreamTestKey)
	resp, err := testClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body, err
}

// checkFailedHop finds the client span of the call to path in the trace
// trackingID names and checks it ended with error status.
func checkFailedHop(t *testing.T, spans *tracetest.SpanRecorder, trackingID, path string) {
	t.Helper()
	var names []string
	for _, sp := range spans.Ended() {
		if sp.SpanContext().TraceID().String() != trackingID || sp.SpanKind() != trace.SpanKindClient {
			continue
		}
		names = append(names, sp.Name())
		if sp.Name() == "POST "+path {
			if sp.Status().Code != codes.Error {
				t.Errorf("client span %q has status %v, want Error", sp.Name(), sp.Status())
			}
			return
		}
	}
	t.Errorf("no client span POST %s in trace %s; client spans: %v", path, trackingID, names)
}

// With the limit at 2, a third concurrent request is shed at once with a
// JSON 503 and Retry-After, while /healthz still passes.
func TestGatewayShedsOverMaxInFlight(t *testing.T) {
	arrived := make(chan struct{}, 2)
	release := make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(free)
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(stubPlan)
	}))
	t.Cleanup(agent.Close)
	gw, err := Open(context.Background(), Config{
		APIKeys: "test:" + downstreamTestKey, DataDir: t.TempDir(),
		AgentURL: agent.URL, EngineURL: stubService(t, 0, stubResult),
		MaxInFlight: 2,
	}, recordedTelemetry(t, tracetest.NewSpanRecorder()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	srv := httptest.NewServer(gw.Handler)
	t.Cleanup(srv.Close)

	held := make(chan int, 2)
	for range 2 {
		go func() {
			status, _, _, err := sendWorkflow(srv.URL)
			if err != nil {
				t.Error(err)
			}
			held <- status
		}()
	}
	for range 2 {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the first two requests did not reach the agent")
		}
	}
	status, header, body := postWorkflow(t, srv.URL)
	tid := header.Get(telemetry.HeaderTrackingID)
	var eb telemetry.ErrorBody
	if status != http.StatusServiceUnavailable || json.Unmarshal(body, &eb) != nil || eb.Error.Code != "overloaded" || eb.TrackingID != tid || tid == "" {
		t.Errorf("third request: %d %s, want 503 overloaded with tracking_id %q", status, body, tid)
	}
	if header.Get("Retry-After") == "" {
		t.Error("shed request without Retry-After")
	}
	if _, _, err := apigateway.NewClient(srv.URL, downstreamTestKey, testClient).Health(context.Background()); err != nil {
		t.Errorf("/healthz while the gateway was at its limit: %v", err)
	}
	free()
	for range 2 {
		if s := <-held; s != http.StatusCreated {
			t.Errorf("held request answered %d, want 201", s)
		}
	}
}
