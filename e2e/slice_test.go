package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/starmates-ai/ai-teams/internal/httpjson"
	"github.com/starmates-ai/ai-teams/services/apigateway"
	gateway "github.com/starmates-ai/ai-teams/services/apigateway/server"
	agent "github.com/starmates-ai/ai-teams/services/workflowagent/server"
	"github.com/starmates-ai/ai-teams/services/workflowengine"
	engine "github.com/starmates-ai/ai-teams/services/workflowengine/server"
	"github.com/starmates-ai/ai-teams/telemetry"
)

const testKey = "test-key-0123456789"

// PostgresURLEnv names the variable holding the PostgreSQL URL the slice
// runs against; make test starts a server and sets it.
const PostgresURLEnv = "AI_TEAMS_TEST_POSTGRES_URL"

// slice is the three services on loopback ports, sharing one span recorder,
// each built by the function its command serves it with.
type slice struct {
	metrics map[string]*sdkmetric.ManualReader
	spans   *tracetest.SpanRecorder
	logs    map[string]*lineSink
	store   *gateway.Store
	gateway *httptest.Server
	client  *apigateway.Client // the gateway's, with testKey
	agent   *httptest.Server
	engine  *httptest.Server
}

func startSlice(t *testing.T, databaseURL, dataDir string) *slice {
	t.Helper()
	s := &slice{spans: tracetest.NewSpanRecorder(), logs: map[string]*lineSink{}, metrics: map[string]*sdkmetric.ManualReader{}}

	// Instant steps: the slice's runs need not take time.
	s.engine = httptest.NewServer(engine.NewHandler(s.telemetry(t, "workflow-engine"), 0))
	t.Cleanup(s.engine.Close)

	agentHandler, err := agent.NewHandler(agent.Config{}, s.telemetry(t, "workflow-agent"))
	if err != nil {
		t.Fatal(err)
	}
	s.agent = httptest.NewServer(agentHandler)
	t.Cleanup(s.agent.Close)

	gw, err := gateway.Open(context.Background(), gateway.Config{
		APIKeys:     "e2e:" + testKey + ":premium",
		DatabaseURL: databaseURL,
		DataDir:     dataDir,
		AgentURL:    s.agent.URL,
		EngineURL:   s.engine.URL,
	}, s.telemetry(t, "api-gateway"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	s.store = gw.Store
	s.gateway = httptest.NewServer(gw.Handler)
	t.Cleanup(s.gateway.Close)
	s.client = apigateway.NewClient(s.gateway.URL, testKey, nil)
	return s
}

// telemetry is a service's telemetry recorded in memory: its spans in the
// shared recorder, its metrics in a manual reader, its log lines in a sink.
func (s *slice) telemetry(t *testing.T, name string) *telemetry.Telemetry {
	t.Helper()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(name))))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	sink := &lineSink{}
	s.logs[name] = sink
	reader := sdkmetric.NewManualReader()
	s.metrics[name] = reader
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithView(telemetry.MetricViews()...))
	m, err := telemetry.NewMetrics(mp, name)
	if err != nil {
		t.Fatal(err)
	}
	return &telemetry.Telemetry{
		Config:         telemetry.Config{ServiceName: name},
		Logger:         slog.New(telemetry.NewHandler(sink, telemetry.HandlerOptions{Service: name, Level: slog.LevelDebug})),
		TracerProvider: tp,
		MeterProvider:  mp,
		Propagator:     telemetry.DefaultPropagator(),
		Metrics:        m,
	}
}

func (s *slice) resetObservations() {
	for _, l := range s.logs {
		l.reset()
	}
}

// post sends body raw to the gateway with the test key, for what the typed
// client cannot send (bodies that break the contract, odd headers), and
// returns status, tracking id and body. An empty value in hdr drops that
// header.
func (s *slice) post(t *testing.T, path, body string, hdr map[string]string) (int, string, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.gateway.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testKey)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get(telemetry.HeaderTrackingID), b
}

// countRows counts the rows of table written by the requests with these tracking ids.
func (s *slice) countRows(t *testing.T, table string, trackingIDs []string) int {
	t.Helper()
	var n int
	for _, tid := range trackingIDs {
		var c int
		q := rebind(s, `SELECT COUNT(*) FROM `+table+` WHERE tracking_id = ?`)
		if err := s.store.DB().QueryRow(q, tid).Scan(&c); err != nil {
			t.Fatal(err)
		}
		n += c
	}
	return n
}

func TestSliceSQLite(t *testing.T) {
	runSlice(t, startSlice(t, "", t.TempDir()))
}

func TestSlicePostgres(t *testing.T) {
	url := os.Getenv(PostgresURLEnv)
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is unset in CI: .ci/run must start PostgreSQL", PostgresURLEnv)
		}
		t.Skipf("%s is unset; make test starts PostgreSQL and sets it", PostgresURLEnv)
	}
	s := startSlice(t, url, "")
	if s.store.System() != "postgresql" {
		t.Fatalf("store is %s", s.store.System())
	}
	runSlice(t, s)
}

func runSlice(t *testing.T, s *slice) {
	t.Run("one trace across three services and the database", func(t *testing.T) { checkOneTrace(t, s) })
	t.Run("bad input is a clear 4xx and writes nothing", func(t *testing.T) { checkBadInput(t, s) })
	t.Run("a failing step is recorded with its reason", func(t *testing.T) { checkFailedRun(t, s) })
	t.Run("sessions", func(t *testing.T) { checkSessions(t, s) })
	t.Run("metrics: catalog, exemplars, no unbounded labels", func(t *testing.T) { checkMetrics(t, s) })
}

func checkOneTrace(t *testing.T, s *slice) {
	s.resetObservations()
	run, tid, err := s.client.CreateWorkflow(context.Background(), apigateway.CreateWorkflowRequest{UserID: "user_e2e", Goal: "summarise the quarterly report"})
	if err != nil {
		t.Fatal(err)
	}
	if run.TrackingID != tid || !trackingIDFormat.MatchString(tid) {
		t.Fatalf("body tracking_id %q, header %q", run.TrackingID, tid)
	}
	checkExemplar(t, s, tid)
	if run.Status != workflowengine.StatusCompleted || len(run.Steps) == 0 {
		t.Fatalf("run %+v", run)
	}

	// Spans: every span of the trace, by service.
	servers := map[string]string{}
	var dbSpans, stepSpans, total int
	for _, sp := range s.spans.Ended() {
		if sp.SpanContext().TraceID().String() != tid {
			continue
		}
		total++
		svc := serviceName(sp)
		switch {
		case sp.SpanKind() == trace.SpanKindServer:
			servers[svc] = sp.Name()
		case spanAttr(sp, "db.system.name") != "":
			dbSpans++
			if svc != "api-gateway" || sp.SpanKind() != trace.SpanKindClient {
				t.Errorf("DB span %q from %s kind %v", sp.Name(), svc, sp.SpanKind())
			}
		case strings.HasPrefix(sp.Name(), "step "):
			stepSpans++
		}
	}
	want := map[string]string{"api-gateway": "POST /api/v1/workflows", "workflow-agent": "POST /generate-workflow", "workflow-engine": "POST /execute"}
	for svc, name := range want {
		if servers[svc] != name {
			t.Errorf("server span of %s: %q, want %q (all: %v)", svc, servers[svc], name, servers)
		}
	}
	if dbSpans == 0 {
		t.Error("no DB span in the trace")
	}
	if stepSpans != len(run.Steps) {
		t.Errorf("%d step spans for %d steps", stepSpans, len(run.Steps))
	}
	t.Logf("trace %s: %d spans, %d DB, %d steps", tid, total, dbSpans, stepSpans)

	// The row carries the tracking id.
	var rowTID string
	if err := s.store.DB().QueryRow(rebind(s, `SELECT tracking_id FROM workflow_runs WHERE id = ?`), run.ID).Scan(&rowTID); err != nil {
		t.Fatal(err)
	}
	if rowTID != tid {
		t.Errorf("workflow_runs.tracking_id %q, want %q", rowTID, tid)
	}

	// Every line written while serving it carries it, in every service.
	for svc, sink := range s.logs {
		lines := sink.lines(t, svc)
		checkLogLines(t, svc, lines)
		if len(lines) == 0 {
			t.Errorf("%s wrote no log line", svc)
		}
		var access bool
		for _, l := range lines {
			tr, _ := l["tracing"].(map[string]any)
			if l["tracking_id"] != tid || tr["trace_id"] != tid {
				t.Errorf("%s line without the tracking id: %v", svc, l)
			}
			if req, ok := l["request"].(map[string]any); ok && req["route"] != nil {
				access = true
			}
		}
		if !access {
			t.Errorf("%s wrote no access line", svc)
		}
	}
}

func checkBadInput(t *testing.T, s *slice) {
	var rejected []string // the bad requests' tracking ids: no row may carry one
	for _, tc := range []struct {
		name, body string
		hdr        map[string]string
		status     int
		code       string
	}{
		{"malformed JSON", `{"user_id": "u", "goal": `, nil, 400, "invalid_json"},
		{"unknown field", `{"user_id":"u","goal":"g","admin":true}`, nil, 400, "unknown_field"},
		{"missing user", `{"goal":"g"}`, nil, 400, "missing_field"},
		{"missing goal", `{"user_id":"u"}`, nil, 400, "missing_field"},
		{"wrong type", `{"user_id":7,"goal":"g"}`, nil, 400, "invalid_field"},
		{"two objects", `{"user_id":"u","goal":"g"}{}`, nil, 400, "invalid_json"},
		{"too large", `{"user_id":"u","goal":"` + strings.Repeat("x", gateway.MaxBody) + `"}`, nil, 413, "body_too_large"},
		{"goal too long", `{"user_id":"u","goal":"` + strings.Repeat("x", gateway.MaxGoalLen+1) + `"}`, nil, 400, "invalid_field"},
		{"unknown session", `{"user_id":"u","goal":"g","session_id":"sess_nope"}`, nil, 404, "session_not_found"},
		{"no key", `{"user_id":"u","goal":"g"}`, map[string]string{"Authorization": ""}, 401, "unauthorized"},
		{"wrong key", `{"user_id":"u","goal":"g"}`, map[string]string{"Authorization": "Bearer nope"}, 401, "unauthorized"},
		{"bad traceparent", `{"user_id":"u","goal":`, map[string]string{"traceparent": "00-zz-yy-01"}, 400, "invalid_json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, tid, body := s.post(t, "/api/v1/workflows", tc.body, tc.hdr)
			rejected = append(rejected, tid)
			var eb struct {
				Error      struct{ Code, Message string }
				TrackingID string `json:"tracking_id"`
			}
			if err := json.Unmarshal(body, &eb); err != nil {
				t.Fatalf("body is not JSON: %s", body)
			}
			if status != tc.status || eb.Error.Code != tc.code || eb.Error.Message == "" {
				t.Errorf("got %d %q %q, want %d %q", status, eb.Error.Code, eb.Error.Message, tc.status, tc.code)
			}
			if len(tid) != 32 || eb.TrackingID != tid {
				t.Errorf("tracking id header %q body %q", tid, eb.TrackingID)
			}
		})
	}
	// Counted by the requests' own tracking ids: the PostgreSQL database is
	// shared with other runs, so a count of all rows could move for other reasons.
	for _, table := range []string{"workflow_runs", "sessions"} {
		if n := s.countRows(t, table, rejected); n != 0 {
			t.Errorf("bad input wrote %d rows to %s", n, table)
		}
	}
}

func checkFailedRun(t *testing.T, s *slice) {
	ctx := context.Background()
	for goal, want := range map[string]string{"deploy #fail": workflowengine.StatusFailed, "deploy #partial": workflowengine.StatusPartial} {
		run, tid, err := s.client.CreateWorkflow(ctx, apigateway.CreateWorkflowRequest{UserID: "u1", Goal: goal})
		if err != nil || run.Status != want || !strings.Contains(run.Reason, "failed") {
			t.Errorf("%s: %+v %v", goal, run, err)
			continue
		}
		stored, err := s.store.GetRun(ctx, run.ID)
		if err != nil || stored.Status != want || stored.Reason != run.Reason || stored.TrackingID != tid {
			t.Errorf("stored run %+v (%v)", stored, err)
		}
	}
	// The agent down: 502, and the run is still stored, failed, with why.
	s.agent.Close()
	_, _, err := s.client.CreateWorkflow(ctx, apigateway.CreateWorkflowRequest{UserID: "u1", Goal: "anything"})
	tid := wantRemoteError(t, err, http.StatusBadGateway, "downstream_unavailable").TrackingID
	var reason, st string
	if err := s.store.DB().QueryRow(rebind(s, `SELECT status, reason FROM workflow_runs WHERE tracking_id = ?`), tid).Scan(&st, &reason); err != nil {
		t.Fatal(err)
	}
	if st != workflowengine.StatusFailed || !strings.Contains(reason, "workflow-agent") {
		t.Errorf("stored %s %q", st, reason)
	}
}

func checkSessions(t *testing.T, s *slice) {
	ctx := context.Background()
	sess, tid, err := s.client.CreateSession(ctx, apigateway.CreateSessionRequest{UserID: "user_s"})
	if err != nil || sess.TrackingID != tid || sess.UserID != "user_s" {
		t.Fatalf("create: %+v (tracking id %s) %v", sess, tid, err)
	}
	got, readTID, err := s.client.GetSession(ctx, sess.ID)
	if err != nil || got.ID != sess.ID || got.TrackingID != tid || !got.CreatedAt.Equal(sess.CreatedAt) {
		t.Errorf("get: %+v %v, want %+v", got, err, sess)
	}
	if readTID == tid || !trackingIDFormat.MatchString(readTID) {
		t.Errorf("the read's tracking id %q is not its own (the creation's is %s)", readTID, tid)
	}
	// A workflow in someone else's session is refused.
	_, _, err = s.client.CreateWorkflow(ctx, apigateway.CreateWorkflowRequest{UserID: "intruder", Goal: "g", SessionID: sess.ID})
	wantRemoteError(t, err, http.StatusForbidden, "session_mismatch")
}

// wantRemoteError fails the test unless err is the gateway's error answer
// with this status and code, carrying the request's tracking id.
func wantRemoteError(t *testing.T, err error, status int, code string) *httpjson.RemoteError {
	t.Helper()
	var answered *httpjson.RemoteError
	if !errors.As(err, &answered) || answered.Status != status || answered.Code != code {
		t.Fatalf("got %v, want the answer %d %s", err, status, code)
	}
	if !trackingIDFormat.MatchString(answered.TrackingID) {
		t.Fatalf("the %d answer's tracking id %q is not 32 lowercase hex", status, answered.TrackingID)
	}
	return answered
}

func rebind(s *slice, q string) string {
	if s.store.System() == "postgresql" {
		return strings.Replace(q, "?", "$1", 1)
	}
	return q
}

func serviceName(sp sdktrace.ReadOnlySpan) string {
	for _, a := range sp.Resource().Attributes() {
		if a.Key == semconv.ServiceNameKey {
			return a.Value.AsString()
		}
	}
	return ""
}

func spanAttr(sp sdktrace.ReadOnlySpan, key string) string {
	for _, a := range sp.Attributes() {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}
