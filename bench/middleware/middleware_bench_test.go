// Package middleware compares the cost of one request through the telemetry
// middleware with a bare ServeMux, otelhttp alone and a hand-made
// composition of the same three signals, all on the same route and with the
// real OpenTelemetry SDKs exporting to nowhere.
// Run: cd bench && GOWORK=off go test -run XXX -bench . -benchmem -count 5 ./middleware/
package middleware

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/starmates-ai/ai-teams/telemetry"
)

const service = "bench-service"

// routes is the mux every row serves: one route with a path value, answered
// with a small JSON body, as the services' GET-by-id routes are.
func routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/sessions/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"`+r.PathValue("id")+`","status":"active"}`)
	})
	return mux
}

// providers are the SDKs as Setup builds them — a batch span processor, a
// periodic metric reader with the catalog's views and cardinality limit, a
// batch log processor — with exporters that drop what they are given.
type providers struct {
	tp *sdktrace.TracerProvider
	mp *sdkmetric.MeterProvider
	lp *sdklog.LoggerProvider
}

func newProviders(b *testing.B) providers {
	res := resource.NewSchemaless(semconv.ServiceName(service))
	p := providers{
		tp: sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardSpans{}), sdktrace.WithResource(res)),
		mp: sdkmetric.NewMeterProvider(
			sdkmetric.WithReader(sdkmetric.NewPeriodicReader(discardMetrics{})),
			sdkmetric.WithResource(res),
			sdkmetric.WithView(telemetry.MetricViews()...),
			sdkmetric.WithCardinalityLimit(telemetry.CardinalityLimit),
		),
		lp: sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(discardLogs{})), sdklog.WithResource(res)),
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.tp.Shutdown(ctx)
		_ = p.mp.Shutdown(ctx)
		_ = p.lp.Shutdown(ctx)
	})
	return p
}

var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// serve runs h on the same request b.N times.
func serve(b *testing.B, h http.Handler) {
	req := httptest.NewRequest(http.MethodGet, "/api/v1/sessions/sess_42", nil)
	req.Header.Set("User-Agent", "bench/1.0")
	req.RemoteAddr = "10.0.3.7:52114"
	w := &discardResponse{header: http.Header{}}
	// One request first, so every row starts with its caches warm.
	h.ServeHTTP(w, req)
	if w.status != http.StatusOK {
		b.Fatalf("status %d", w.status)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, req)
	}
}

// BenchmarkBareMux is the route with no instrumentation.
func BenchmarkBareMux(b *testing.B) {
	serve(b, routes())
}

// BenchmarkOtelhttp is otelhttp as its documentation sets it up: a server
// span per request and its own http.server.* metrics.
func BenchmarkOtelhttp(b *testing.B) {
	p := newProviders(b)
	serve(b, otelhttp.NewHandler(routes(), "http.server",
		otelhttp.WithTracerProvider(p.tp), otelhttp.WithMeterProvider(p.mp), otelhttp.WithPropagators(propagator)))
}

// BenchmarkNaive is what one writes by hand for the same three signals:
// otelhttp for the span, a RED middleware with a counter and a histogram
// labelled by route, method and status, and one slog JSON access line.
func BenchmarkNaive(b *testing.B) {
	p := newProviders(b)
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	meter := p.mp.Meter("naive")
	requests, _ := meter.Int64Counter("requests")
	duration, _ := meter.Float64Histogram("duration", metric.WithUnit("s"))
	mux := routes()
	red := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		mux.ServeHTTP(rec, r)
		d := time.Since(start)
		attrs := metric.WithAttributes(attribute.String("route", r.Pattern), attribute.String("method", r.Method),
			attribute.String("status", strconv.Itoa(rec.status)))
		requests.Add(r.Context(), 1, attrs)
		duration.Record(r.Context(), d.Seconds(), attrs)
		logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("route", r.Pattern),
			slog.Int("status", rec.status), slog.Int64("size", rec.size), slog.Duration("duration", d),
			slog.String("user_agent", r.UserAgent()), slog.String("ip", r.RemoteAddr))
	})
	serve(b, otelhttp.NewHandler(red, "http.server",
		otelhttp.WithTracerProvider(p.tp), otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()), otelhttp.WithPropagators(propagator)))
}

// BenchmarkOurs is the telemetry middleware with everything Setup turns on
// at INFO (the staging level, where 2xx access lines are written): span,
// catalog metrics, the JSON access line and the OTLP log bridge beside it.
// Setup's logger is built as Setup builds it, less its level gate on the
// bridge (unexported; at INFO it lets the access line through anyway).
func BenchmarkOurs(b *testing.B) {
	p := newProviders(b)
	bridge := otelslog.NewHandler(telemetry.ScopeName, otelslog.WithLoggerProvider(p.lp))
	serveOurs(b, p, slog.New(telemetry.NewHandler(io.Discard, telemetry.HandlerOptions{Service: service, Level: slog.LevelInfo, Also: bridge})))
}

// BenchmarkOursNopLogHandler is BenchmarkOurs with a log handler that takes
// the access record and drops it: the middleware's own cost, without the
// logging stack's (a diagnostic row, not one of the four).
func BenchmarkOursNopLogHandler(b *testing.B) {
	serveOurs(b, newProviders(b), slog.New(nopHandler{}))
}

func serveOurs(b *testing.B, p providers, logger *slog.Logger) {
	m, err := telemetry.NewMetrics(p.mp, service)
	if err != nil {
		b.Fatal(err)
	}
	m.SetLogger(logger)
	tel := &telemetry.Telemetry{
		Config:         telemetry.Config{ServiceName: service, Environment: telemetry.EnvStaging},
		Logger:         logger,
		TracerProvider: p.tp,
		MeterProvider:  p.mp,
		LoggerProvider: p.lp,
		Propagator:     telemetry.DefaultPropagator(),
		Metrics:        m,
	}
	serve(b, tel.Middleware()(routes()))
}

type nopHandler struct{}

func (nopHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (nopHandler) Handle(context.Context, slog.Record) error { return nil }
func (h nopHandler) WithAttrs([]slog.Attr) slog.Handler      { return h }
func (h nopHandler) WithGroup(string) slog.Handler           { return h }

type statusRecorder struct {
	http.ResponseWriter
	status int
	size   int64
}

func (r *statusRecorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }
func (r *statusRecorder) Write(p []byte) (int, error) {
	n, err := r.ResponseWriter.Write(p)
	r.size += int64(n)
	return n, err
}

// discardResponse is a ResponseWriter that keeps only the status, with
// net/http's Flush and WriteString, reused across iterations.
type discardResponse struct {
	header http.Header
	status int
}

func (w *discardResponse) reset()              { clear(w.header); w.status = 0 }
func (w *discardResponse) Header() http.Header { return w.header }
func (w *discardResponse) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *discardResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(p), nil
}
func (w *discardResponse) WriteString(s string) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(s), nil
}
func (w *discardResponse) Flush() { w.WriteHeader(http.StatusOK) }

type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

type discardMetrics struct{}

func (discardMetrics) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}
func (discardMetrics) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}
func (discardMetrics) Export(context.Context, *metricdata.ResourceMetrics) error { return nil }
func (discardMetrics) ForceFlush(context.Context) error                          { return nil }
func (discardMetrics) Shutdown(context.Context) error                            { return nil }

type discardLogs struct{}

func (discardLogs) Export(context.Context, []sdklog.Record) error { return nil }
func (discardLogs) ForceFlush(context.Context) error              { return nil }
func (discardLogs) Shutdown(context.Context) error                { return nil }
