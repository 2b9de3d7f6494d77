package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

type testServer struct {
	spans *tracetest.SpanRecorder
	logs  *syncBuffer
	h     http.Handler
}

func newTestServer(t testing.TB, opts ...Option) *testServer {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	logs := &syncBuffer{}
	logger := slog.New(NewHandler(logs, HandlerOptions{Service: "test", Level: slog.LevelDebug}))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok/{id}", func(w http.ResponseWriter, r *http.Request) {
		logger.InfoContext(r.Context(), "inside handler")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"tracking_id": TrackingID(r.Context()), "id": r.PathValue("id")})
	})
	mux.HandleFunc("POST /bad", func(w http.ResponseWriter, r *http.Request) {
		var v struct{ Name string }
		err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16)).Decode(&v)
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			WriteError(w, http.StatusRequestEntityTooLarge, "body_too_large", "the body exceeds 16 bytes")
		case err != nil:
			WriteError(w, http.StatusBadRequest, "invalid_json", "the body is not JSON")
		}
	})
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		SetUser(r.Context(), "user_1", "premium")
		SetSession(r.Context(), "sess_1")
		w.WriteHeader(http.StatusNoContent)
	})
	base := []Option{WithTracerProvider(tp), WithLogger(logger)}
	return &testServer{spans: rec, logs: logs, h: NewMiddleware(append(base, opts...)...)(mux)}
}

func (s *testServer) do(method, target string, hdr map[string]string, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, req)
	return w
}

func (s *testServer) serverSpan(t *testing.T) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, sp := range s.spans.Ended() {
		if sp.SpanKind() == trace.SpanKindServer {
			return sp
		}
	}
	t.Fatal("no server span recorded")
	return nil
}

func TestTrackingIDOnEveryResponse(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		spanName                 string
	}{
		{"ok", "GET", "/ok/42", "", 200, "GET /ok/{id}"},
		{"not found", "GET", "/missing", "", 404, "GET"},
		{"method not allowed", "DELETE", "/ok/42", "", 405, "DELETE"},
		{"bad json", "POST", "/bad", "{nope", 400, "POST /bad"},
		{"too large", "POST", "/bad", `{"Name":"0123456789abcdef"}`, 413, "POST /bad"},
		{"panic", "GET", "/panic", "", 500, "GET /panic"},
		{"unknown method, unmatched", "BREW", "/ok/42", "", 405, "HTTP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t)
			w := s.do(tc.method, tc.path, nil, tc.body)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d (body %s)", w.Code, tc.status, w.Body)
			}
			tid := w.Header().Get(HeaderTrackingID)
			if !hex32.MatchString(tid) || tid == strings.Repeat("0", 32) {
				t.Fatalf("X-Tracking-ID %q is not 32 lowercase hex", tid)
			}
			sp := s.serverSpan(t)
			if sp.SpanContext().TraceID().String() != tid {
				t.Errorf("tracking id %s != trace id %s", tid, sp.SpanContext().TraceID())
			}
			if sp.Name() != tc.spanName {
				t.Errorf("span name %q, want %q", sp.Name(), tc.spanName)
			}
			if got := attr(sp, "tracking.id"); got != tid {
				t.Errorf("span tracking.id = %q", got)
			}
			if tc.status >= 400 {
				var eb ErrorBody
				if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.TrackingID != tid || eb.Error.Code == "" {
					t.Errorf("error body %q is not our JSON with the tracking id (%v)", w.Body, err)
				}
			}
			for _, l := range s.logs.lines(t) {
				if l["tracking_id"] != tid {
					t.Errorf("log line without the tracking id: %v", l)
				}
			}
		})
	}
}

func TestPanicRecovered(t *testing.T) {
	s := newTestServer(t)
	s.do("GET", "/panic", nil, "")
	sp := s.serverSpan(t)
	if sp.Status().Code != codes.Error {
		t.Errorf("span status %v, want Error", sp.Status())
	}
	var sawException bool
	for _, e := range sp.Events() {
		sawException = sawException || e.Name == "exception"
	}
	if !sawException {
		t.Error("panic not recorded as an exception event")
	}
	var sawError bool
	for _, l := range s.logs.lines(t) {
		if l["message"] == "panic recovered while serving request" {
			sawError = true
			if st, _ := l["exception"].(map[string]any)["stack_trace"].(string); !strings.Contains(st, "middleware_test.go") {
				t.Errorf("stack trace missing the handler frame: %q", st)
			}
		}
	}
	if !sawError {
		t.Error("no ERROR log for the panic")
	}
}

func TestAccessLogLine(t *testing.T) {
	s := newTestServer(t)
	w := s.do("GET", "/user", map[string]string{"User-Agent": "ua/1"}, "")
	lines := s.logs.lines(t)
	if len(lines) != 1 {
		t.Fatalf("want exactly one access line, got %d", len(lines))
	}
	l := lines[0]
	req, _ := l["request"].(map[string]any)
	resp, _ := l["response"].(map[string]any)
	user, _ := l["user"].(map[string]any)
	sess, _ := l["session"].(map[string]any)
	if req["method"] != "GET" || req["route"] != "/user" || req["user_agent"] != "ua/1" || resp["status"] != float64(204) {
		t.Errorf("access line %v", l)
	}
	if _, ok := req["duration"].(float64); !ok {
		t.Errorf("request.duration missing: %v", req)
	}
	if user["id"] != "user_1" || user["segment"] != "premium" || sess["id"] != "sess_1" {
		t.Errorf("user/session not on the access line: %v", l)
	}
	if l["level"] != "INFO" || l["tracking_id"] != w.Header().Get(HeaderTrackingID) {
		t.Errorf("level/tracking id: %v", l)
	}
	if got := attr(s.serverSpan(t), "user.id"); got != "user_1" {
		t.Errorf("span user.id = %q", got)
	}
	s2 := newTestServer(t)
	s2.do("GET", "/missing", nil, "")
	if l := s2.logs.lines(t)[0]; l["level"] != "WARN" {
		t.Errorf("4xx must log at WARN: %v", l)
	}
}

const validParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestTraceparent(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		trusted      bool
		continued    bool
	}{
		{"valid, trusted", validParent, true, true},
		{"valid, untrusted caller", validParent, false, false},
		{"all-zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", true, false},
		{"malformed", "00-xyz-00f067aa0ba902b7-01", true, false},
		{"over-long", validParent + strings.Repeat("f", 4096), true, false},
		{"wrong version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, WithTrustedCaller(func(*http.Request) bool { return tc.trusted }))
			w := s.do("GET", "/ok/1", map[string]string{"traceparent": tc.header}, "")
			tid := w.Header().Get(HeaderTrackingID)
			if w.Code != 200 || !hex32.MatchString(tid) {
				t.Fatalf("status %d tracking id %q", w.Code, tid)
			}
			continued := tid == "4bf92f3577b34da6a3ce929d0e0e4736"
			if continued != tc.continued {
				t.Errorf("continued=%v, want %v (tracking id %s)", continued, tc.continued, tid)
			}
			if tid == strings.Repeat("0", 32) {
				t.Error("all-zero tracking id")
			}
			sp := s.serverSpan(t)
			if !tc.trusted && len(sp.Links()) != 1 {
				t.Errorf("untrusted caller's trace should be linked, got %d links", len(sp.Links()))
			}
		})
	}
}

func TestOversizedHeaders(t *testing.T) {
	s := newTestServer(t, WithMaxHeaderBytes(1024))
	w := s.do("GET", "/ok/1", map[string]string{"X-Big": strings.Repeat("a", 2048)}, "")
	if w.Code != http.StatusRequestHeaderFieldsTooLarge || w.Header().Get(HeaderTrackingID) == "" {
		t.Fatalf("status %d, header %q", w.Code, w.Header().Get(HeaderTrackingID))
	}
	if !strings.Contains(w.Body.String(), "headers_too_large") {
		t.Errorf("body %s", w.Body)
	}
}

func TestClientPropagatesTraceparent(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Get("traceparent") }))
	defer srv.Close()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, span := tp.Tracer("t").Start(context.Background(), "parent")
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/x", nil)
	resp, err := HTTPClient(0, WithTracerProvider(tp)).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	span.End()
	if !strings.Contains(got, span.SpanContext().TraceID().String()) {
		t.Errorf("traceparent %q does not carry trace %s", got, span.SpanContext().TraceID())
	}
	var client sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanKind() == trace.SpanKindClient {
			client = s
		}
	}
	if client == nil || client.Name() != "GET /x" {
		t.Fatalf("client span missing or misnamed: %v", client)
	}
}

func attr(sp sdktrace.ReadOnlySpan, key string) string {
	for _, a := range sp.Attributes() {
		if string(a.Key) == key {
			return a.Value.String()
		}
	}
	return ""
}
