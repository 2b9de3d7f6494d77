package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/starmates-ai/ai-teams/config"
	"github.com/starmates-ai/ai-teams/services/apigateway"
	gateway "github.com/starmates-ai/ai-teams/services/apigateway/server"
	"github.com/starmates-ai/ai-teams/services/workflowagent"
	agent "github.com/starmates-ai/ai-teams/services/workflowagent/server"
	"github.com/starmates-ai/ai-teams/services/workflowengine"
	engine "github.com/starmates-ai/ai-teams/services/workflowengine/server"
	"github.com/starmates-ai/ai-teams/telemetry"
)

const testKey = "test-key-0123456789"

// PostgresURLEnv names the variable holding the PostgreSQL URL the slice
// runs against; make test starts a server and sets it.
const PostgresURLEnv = "AI_TEAMS_TEST_POSTGRES_URL"

// slice is the three services on loopback ports, sharing one span recorder.
type slice struct {
	metrics map[string]*sdkmetric.ManualReader
	spans   *tracetest.SpanRecorder
	logs    map[string]*lineSink
	store   *gateway.Store
	gateway *httptest.Server
	agent   *httptest.Server
	engine  *httptest.Server
}

func startSlice(t *testing.T, databaseURL, dataDir string) *slice {
	t.Helper()
	s := &slice{spans: tracetest.NewSpanRecorder(), logs: map[string]*lineSink{}}
	s.metrics = map[string]*sdkmetric.ManualReader{}
	provider := func(name string) (*sdktrace.TracerProvider, *slog.Logger, *telemetry.Metrics) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans),
			sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(name))))
		t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		sink := &lineSink{}
		s.logs[name] = sink
		reader := sdkmetric.NewManualReader()
		s.metrics[name] = reader
		m, err := telemetry.NewMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithView(telemetry.MetricViews()...)), name)
		if err != nil {
			t.Fatal(err)
		}
		m.SetPrices(config.DefaultAIPrices())
		return tp, slog.New(telemetry.NewHandler(sink, telemetry.HandlerOptions{Service: name, Level: slog.LevelDebug})), m
	}
	mw := func(tp trace.TracerProvider, l *slog.Logger, m *telemetry.Metrics, extra ...telemetry.Option) func(http.Handler) http.Handler {
		return telemetry.NewMiddleware(append([]telemetry.Option{telemetry.WithTracerProvider(tp), telemetry.WithLogger(l), telemetry.WithMetrics(m)}, extra...)...)
	}

	etp, elog, em := provider("workflow-engine")
	eng := engine.New(elog, etp)
	eng.StepWork = 0
	s.engine = httptest.NewServer(mw(etp, elog, em)(eng.Routes()))
	t.Cleanup(s.engine.Close)

	atp, alog, am := provider("workflow-agent")
	s.agent = httptest.NewServer(mw(atp, alog, am)(agent.New(agent.BuiltinPlanner{}, alog, atp, am).Routes()))
	t.Cleanup(s.agent.Close)

	gtp, glog, gm := provider("api-gateway")
	store, err := gateway.OpenStore(context.Background(), dataDir, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s.store = store
	keys, err := gateway.ParseAPIKeys("e2e:" + testKey + ":premium")
	if err != nil {
		t.Fatal(err)
	}
	hc := telemetry.HTTPClient(10*time.Second, telemetry.WithTracerProvider(gtp))
	gw := gateway.New(store, keys, workflowagent.NewClient(s.agent.URL, hc), workflowengine.NewClient(s.engine.URL, hc), glog, gm)
	s.gateway = httptest.NewServer(mw(gtp, glog, gm, telemetry.WithTrustedCaller(keys.Trusted))(gw.Routes()))
	t.Cleanup(s.gateway.Close)
	return s
}

func (s *slice) resetObservations() {
	for _, l := range s.logs {
		l.reset()
	}
}

// post sends body to the gateway with the test key and returns status, tracking id and body.
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
	status, tid, body := s.post(t, "/api/v1/workflows", `{"user_id":"user_e2e","goal":"summarise the quarterly report"}`, nil)
	if status != http.StatusCreated {
		t.Fatalf("status %d: %s", status, body)
	}
	var run apigateway.WorkflowRun
	if err := json.Unmarshal(body, &run); err != nil {
		t.Fatal(err)
	}
	if run.TrackingID != tid || len(tid) != 32 {
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
	for goal, want := range map[string]string{"deploy #fail": workflowengine.StatusFailed, "deploy #partial": workflowengine.StatusPartial} {
		status, tid, body := s.post(t, "/api/v1/workflows", `{"user_id":"u1","goal":"`+goal+`"}`, nil)
		var run apigateway.WorkflowRun
		_ = json.Unmarshal(body, &run)
		if status != http.StatusCreated || run.Status != want || !strings.Contains(run.Reason, "failed") {
			t.Errorf("%s: %d %s %q", goal, status, run.Status, run.Reason)
			continue
		}
		stored, err := s.store.GetRun(context.Background(), run.ID)
		if err != nil || stored.Status != want || stored.Reason != run.Reason || stored.TrackingID != tid {
			t.Errorf("stored run %+v (%v)", stored, err)
		}
	}
	// The agent down: 502, and the run is still stored, failed, with why.
	s.agent.Close()
	status, tid, body := s.post(t, "/api/v1/workflows", `{"user_id":"u1","goal":"anything"}`, nil)
	if status != http.StatusBadGateway || !strings.Contains(string(body), tid) {
		t.Fatalf("agent down: %d %s", status, body)
	}
	var reason, st string
	if err := s.store.DB().QueryRow(rebind(s, `SELECT status, reason FROM workflow_runs WHERE tracking_id = ?`), tid).Scan(&st, &reason); err != nil {
		t.Fatal(err)
	}
	if st != workflowengine.StatusFailed || !strings.Contains(reason, "workflow-agent") {
		t.Errorf("stored %s %q", st, reason)
	}
}

func checkSessions(t *testing.T, s *slice) {
	status, tid, body := s.post(t, "/api/v1/sessions", `{"user_id":"user_s"}`, nil)
	var sess apigateway.Session
	if err := json.Unmarshal(body, &sess); err != nil || status != 201 || sess.TrackingID != tid {
		t.Fatalf("create: %d %s", status, body)
	}
	req, _ := http.NewRequest("GET", s.gateway.URL+"/api/v1/sessions/"+sess.ID, nil)
	req.Header.Set("X-API-Key", testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got apigateway.Session
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if resp.StatusCode != 200 || got.ID != sess.ID || got.TrackingID != tid || !got.CreatedAt.Equal(sess.CreatedAt) {
		t.Errorf("get: %d %+v, want %+v", resp.StatusCode, got, sess)
	}
	// A workflow in someone else's session is refused.
	status, _, body = s.post(t, "/api/v1/workflows", `{"user_id":"intruder","goal":"g","session_id":"`+sess.ID+`"}`, nil)
	if status != http.StatusForbidden {
		t.Errorf("foreign session: %d %s", status, body)
	}
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
