package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

var testTime = time.Date(2026, 1, 31, 10, 30, 45, 123456789, time.FixedZone("CET", 3600))

func spanCtx(t *testing.T) context.Context {
	t.Helper()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("1a2b3c4d5e6f7890")
	return trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
}

func record(level slog.Level, msg string, attrs ...slog.Attr) slog.Record {
	r := slog.NewRecord(testTime, level, msg, 0)
	r.AddAttrs(attrs...)
	return r
}

func TestHandlerExactLine(t *testing.T) {
	var buf bytes.Buffer
	h := NewHandler(&buf, HandlerOptions{Service: "api-gateway", Level: slog.LevelDebug})
	err := h.Handle(spanCtx(t), record(slog.LevelInfo, "POST /api/v1/sessions - 201",
		slog.Group("request", slog.String("method", "POST"), slog.Duration("duration", 245*time.Millisecond), slog.Int("size", 1024)),
		slog.Group("response", slog.Int("status", 201)),
	))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"timestamp":"2026-01-31T09:30:45.123Z","level":"INFO","message":"POST /api/v1/sessions - 201","service":"api-gateway",` +
		`"request":{"method":"POST","duration":0.245,"size":1024},"response":{"status":201},` +
		`"tracking_id":"4bf92f3577b34da6a3ce929d0e0e4736","tracing":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"1a2b3c4d5e6f7890"}}` + "\n"
	if got := buf.String(); got != want {
		t.Errorf("line:\n got %s\nwant %s", got, want)
	}
}

func TestHandlerOutsideRequestHasNoTrackingID(t *testing.T) {
	var buf syncBuffer
	slog.New(NewHandler(&buf, HandlerOptions{Service: "svc"})).Info("starting")
	l := buf.lines(t)[0]
	if _, ok := l["tracking_id"]; ok {
		t.Errorf("tracking_id present outside a request: %v", l)
	}
	if _, ok := l["tracing"]; ok {
		t.Errorf("tracing present outside a request: %v", l)
	}
	if l["service"] != "svc" || l["level"] != "INFO" || l["message"] != "starting" {
		t.Errorf("required fields wrong: %v", l)
	}
}

func TestHandlerGroupsAndWithAttrs(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(NewHandler(&buf, HandlerOptions{Service: "s"}))
	l = l.With("a", 1).WithGroup("workflow").With("id", "wf_1").WithGroup("empty")
	l.InfoContext(context.Background(), "m", "status", "running")
	l.InfoContext(context.Background(), "no attrs")
	got := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want0 := `"a":1,"workflow":{"id":"wf_1","empty":{"status":"running"}},"source":`
	want1 := `"a":1,"workflow":{"id":"wf_1"},"source":`
	if !strings.Contains(got[0], want0) {
		t.Errorf("line 0 = %s, want %s", got[0], want0)
	}
	if !strings.Contains(got[1], want1) {
		t.Errorf("line 1 = %s, want %s (an empty group is left out)", got[1], want1)
	}
}

func TestHandlerEscapesAndRedacts(t *testing.T) {
	var buf syncBuffer
	l := slog.New(NewHandler(&buf, HandlerOptions{Service: "s"}))
	l.Info("line1\n{\"@level\":\"ERROR\"}\r\t\x00\u2028",
		slog.String("Authorization", "Bearer sk-live-123"),
		slog.Group("headers", slog.String("X-API-Key", "k-123"), slog.String("cookie", "c=1")),
		slog.String("password", "hunter2"),
		slog.Any("err", errors.New("bad\nthing")),
		slog.String("bad_utf8", "a\xffb"),
	)
	raw := buf.b.String()
	if strings.Count(raw, "\n") != 1 {
		t.Fatalf("one record must be one line, got %q", raw)
	}
	for _, secret := range []string{"sk-live-123", "k-123", "c=1", "hunter2"} {
		if strings.Contains(raw, secret) {
			t.Errorf("secret %q leaked: %s", secret, raw)
		}
	}
	m := buf.lines(t)[0]
	if m["message"] != "line1\n{\"@level\":\"ERROR\"}\r\t\x00\u2028" {
		t.Errorf("message did not round-trip: %q", m["message"])
	}
	if m["Authorization"] != RedactedValue || m["headers"].(map[string]any)["X-API-Key"] != RedactedValue {
		t.Errorf("not redacted: %v", m)
	}
	if m["bad_utf8"] != "a\ufffdb" {
		t.Errorf("invalid UTF-8 not replaced: %q", m["bad_utf8"])
	}
}

func TestHandlerLevels(t *testing.T) {
	for _, tc := range []struct {
		env, override string
		want          slog.Level
	}{
		{EnvProd, "", slog.LevelWarn}, {EnvStaging, "", slog.LevelInfo}, {EnvDev, "", slog.LevelDebug}, {EnvProd, "debug", slog.LevelDebug},
	} {
		c, err := Config{ServiceName: "s", Environment: tc.env, LogLevel: tc.override}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := c.level(); got != tc.want {
			t.Errorf("%s/%q: level %v, want %v", tc.env, tc.override, got, tc.want)
		}
	}
	if _, err := (Config{ServiceName: "s", Environment: "production"}).withDefaults(); err == nil || !strings.Contains(err.Error(), "production") {
		t.Errorf("ENVIRONMENT=production must be a clear error, got %v", err)
	}
	if _, err := (Config{ServiceName: "s", LogLevel: "loud"}).withDefaults(); err == nil {
		t.Error("LOG_LEVEL=loud must be an error")
	}
}

func TestHandlerNonFiniteFloats(t *testing.T) {
	var buf syncBuffer
	slog.New(NewHandler(&buf, HandlerOptions{Service: "s"})).Info("m", "nan", 0.0/zero(), "t", testTime)
	m := buf.lines(t)[0]
	if m["nan"] != "NaN" || m["t"] != "2026-01-31T09:30:45.123Z" {
		t.Errorf("got %v", m)
	}
}

func zero() float64 { return 0 }

func TestErrorLogBecomesSpanEvent(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	var buf syncBuffer
	l := slog.New(NewHandler(&buf, HandlerOptions{Service: "svc"}))

	ctx, span := tp.Tracer("t").Start(context.Background(), "op")
	l.ErrorContext(ctx, "charge failed", slog.Any("error", errors.New("card declined")))
	l.WarnContext(ctx, "only a warning")
	span.End()
	l.Error("outside any span") // must not panic or record anywhere

	sp := rec.Ended()[0]
	var names []string
	var ev sdktrace.Event
	for _, e := range sp.Events() {
		names = append(names, e.Name)
		if e.Name == ErrorLogEvent {
			ev = e
		}
	}
	if len(names) != 2 || ev.Name == "" {
		t.Fatalf("events %v, want error_log + exception", names)
	}
	got := map[string]string{}
	for _, a := range ev.Attributes {
		got[string(a.Key)] = a.Value.Emit()
	}
	if got["log.level"] != "ERROR" || got["log.message"] != "charge failed" || got["tracking.id"] != sp.SpanContext().TraceID().String() ||
		got["error.type"] != "*errors.errorString" || got["log.logger"] != "svc" || !strings.HasSuffix(got["log.function"], "TestErrorLogBecomesSpanEvent") || got["log.line"] == "0" {
		t.Errorf("event attributes %v", got)
	}
	if sp.Status().Code != codes.Error {
		t.Errorf("status %v", sp.Status())
	}
	if m := buf.lines(t)[0]; m["error"].(map[string]any)["message"] != "card declined" {
		t.Errorf("error object %v", m["error"])
	}
}
