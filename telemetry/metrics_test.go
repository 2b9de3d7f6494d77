package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// metricLabels is each instrument's complete label set (docs/metrics.md).
// No view filters labels, so this test is what keeps a user id or any
// other unbounded value from becoming one.
var metricLabels = map[string][]string{
	MetricRequestCount:    {"service_name", "endpoint", "method", "status_code", "api_version"},
	MetricRequestDuration: {"service_name", "endpoint", "method"},
	MetricRequestErrors:   {"service_name", "endpoint", "method", "error_type", "status_code"},
	MetricActiveRequests:  {"service_name", "endpoint"},
	MetricAIRequests:      {"model", "provider"},
	MetricAITokens:        {"model", "token_type"},
	MetricAICost:          {"model"},
	MetricAPIKeyUsage:     {"api_key_id", "client_name", "service_name", "endpoint", "success"},
	MetricEndpointUsage:   {"service_name", "endpoint", "api_version", "user_segment"},
	MetricServiceUptime:   {"service_name"},
}

// metricsServer serves a few routes through the middleware, recording into
// a manual reader with Setup's views.
func metricsServer(t *testing.T) (http.Handler, *Metrics, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithView(MetricViews()...))
	m, err := NewMetrics(mp, "svc")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		SetUser(r.Context(), "user_1", r.URL.Query().Get("segment"))
		if k := r.URL.Query().Get("key"); k != "" {
			SetAPIKey(r.Context(), k, "client_"+k)
		}
		if r.URL.Query().Get("fail") != "" {
			WriteError(w, http.StatusForbidden, "forbidden", "no")
		}
	})
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	tp := sdktrace.NewTracerProvider()
	return NewMiddleware(WithMetrics(m), WithTracerProvider(tp), WithLogger(newTestLogger(&syncBuffer{})))(mux), m, reader
}

func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string][]attribute.Set {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string][]attribute.Set{}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			switch d := md.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[md.Name] = append(out[md.Name], p.Attributes)
				}
			case metricdata.Sum[float64]:
				for _, p := range d.DataPoints {
					out[md.Name] = append(out[md.Name], p.Attributes)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[md.Name] = append(out[md.Name], p.Attributes)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out[md.Name] = append(out[md.Name], p.Attributes)
				}
			}
		}
	}
	return out
}

func TestMetricLabelSets(t *testing.T) {
	h, m, reader := metricsServer(t)
	for _, target := range []string{"/api/v1/things/1?segment=premium&key=k1", "/api/v1/things/2?fail=1&key=k2", "/missing", "/boom", "/api/v1/things/3"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil))
	}
	m.RecordAI(context.Background(), AIUsage{Provider: "p", Model: "m", InputTokens: 3, OutputTokens: 4})
	got := collect(t, reader)
	for name, want := range metricLabels {
		if len(got[name]) == 0 {
			t.Errorf("%s: no series", name)
		}
		for _, set := range got[name] {
			var keys []string
			for _, kv := range set.ToSlice() {
				keys = append(keys, string(kv.Key))
			}
			if w := slices.Sorted(slices.Values(want)); !slices.Equal(keys, w) {
				t.Errorf("%s labels %v, want %v", name, keys, w)
			}
		}
	}
}

// Label values come from cached sets keyed by route, method, status,
// segment and key: each request must still get its own.
func TestMetricLabelValues(t *testing.T) {
	h, _, reader := metricsServer(t)
	for _, target := range []string{
		"/api/v1/things/1?segment=premium&key=k1", "/api/v1/things/1?segment=premium&key=k1",
		"/api/v1/things/2?fail=1&key=k2", "/api/v1/things/3", "/missing", "/boom",
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil))
	}
	got := collect(t, reader)
	has := func(name string, want ...string) {
		t.Helper()
		for _, set := range got[name] {
			var kvs []string
			for _, kv := range set.ToSlice() {
				kvs = append(kvs, string(kv.Key)+"="+kv.Value.String())
			}
			s := strings.Join(kvs, ",")
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(","+s+",", ","+w+",")
			}
			if ok {
				return
			}
		}
		t.Errorf("%s: no series with %v in %v", name, want, got[name])
	}
	has(MetricRequestCount, "endpoint=/api/v1/things/{id}", "status_code=200", "api_version=v1", "method=GET")
	has(MetricRequestCount, "endpoint=/api/v1/things/{id}", "status_code=403")
	has(MetricRequestCount, "endpoint=unmatched", "status_code=404", "api_version=none")
	has(MetricRequestErrors, "endpoint=/api/v1/things/{id}", "error_type=auth", "status_code=403")
	has(MetricRequestErrors, "endpoint=/boom", "error_type=panic", "status_code=500")
	has(MetricRequestErrors, "endpoint=unmatched", "error_type=not_found")
	has(MetricEndpointUsage, "endpoint=/api/v1/things/{id}", "user_segment=premium")
	has(MetricEndpointUsage, "endpoint=/api/v1/things/{id}", "user_segment=unknown")
	has(MetricAPIKeyUsage, "api_key_id=k1", "client_name=client_k1", "success=true")
	has(MetricAPIKeyUsage, "api_key_id=k2", "client_name=client_k2", "success=false")
	has(MetricActiveRequests, "endpoint=/api/v1/things/{id}")
	for _, set := range got[MetricRequestErrors] {
		if v, _ := set.Value("status_code"); v.AsString() == "200" {
			t.Errorf("request_errors_total for a 200: %v", set)
		}
	}
}

// Counters keep one exemplar per series, from any package's meter (the
// domain catalog's too): Prometheus rejects an older one as out of order.
func TestCountersKeepOneFreshExemplar(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithView(MetricViews()...))
	counter, err := mp.Meter("another/package").Int64Counter("things_total")
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider()
	for range 8 {
		ctx, span := tp.Tracer("t").Start(context.Background(), "op")
		counter.Add(ctx, 1)
		span.End()
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	sum := rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Sum[int64])
	if n := len(sum.DataPoints[0].Exemplars); n != 1 {
		t.Errorf("%d exemplars on one counter series, want 1", n)
	}
}
