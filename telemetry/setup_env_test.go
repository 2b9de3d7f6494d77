package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Values the tests put in the environment, distinct from every default.
const (
	envTestService     = "setup-env-test-service"
	envTestEnvironment = EnvStaging
	envTestProject     = "setup-env-test-project"
)

// setTelemetryEnv points ConfigFromEnv at the receiver and pins every
// variable that would otherwise leak in from the machine running the test.
func setTelemetryEnv(t *testing.T, otlpEndpoint string) {
	t.Helper()
	for k, v := range map[string]string{
		"ENVIRONMENT":                         envTestEnvironment,
		"PROJECT":                             envTestProject,
		"OTEL_SERVICE_NAME":                   envTestService,
		"OTEL_EXPORTER_OTLP_ENDPOINT":         otlpEndpoint,
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":  "",
		"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "",
		"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT":    "",
		"OTEL_RESOURCE_ATTRIBUTES":            "",
		"OTEL_TRACES_SAMPLER":                 "",
		"OTEL_SDK_DISABLED":                   "",
		"LOG_LEVEL":                           "",
	} {
		t.Setenv(k, v)
	}
}

// serveAndShutdown runs Setup from the environment, serves one request
// through its middleware (a span, request metrics and an access log record),
// then shuts down, which flushes every exporter. It returns the response's
// tracking id and the stdout log.
func serveAndShutdown(t *testing.T) (string, *syncBuffer) {
	t.Helper()
	stdout := &syncBuffer{}
	cfg := ConfigFromEnv("fallback-service", "v1.2.3")
	cfg.LogWriter = stdout
	tel, err := Setup(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		tel.Logger.InfoContext(r.Context(), "ping served")
		w.WriteHeader(http.StatusNoContent)
	})
	w := httptest.NewRecorder()
	tel.Middleware()(mux).ServeHTTP(w, httptest.NewRequest("GET", "/ping", nil))
	if w.Code != http.StatusNoContent {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown (flushing to a listening receiver): %v", err)
	}
	return w.Header().Get(HeaderTrackingID), stdout
}

func TestOTELSDKDisabledExportsNothing(t *testing.T) {
	// Without the variable the same steps must reach the receiver, or the
	// disabled case below would pass for any reason at all.
	t.Run("control: enabled exports traces, metrics and logs", func(t *testing.T) {
		rcv := startOTLPReceiver(t, nil)
		setTelemetryEnv(t, rcv.addr)
		tid, _ := serveAndShutdown(t)
		traces, metrics, logs := rcv.counts()
		if traces == 0 || metrics == 0 || logs == 0 {
			t.Fatalf("receiver got %d trace, %d metric, %d log requests; want some of each", traces, metrics, logs)
		}
		if !rcv.traceIDs()[tid] {
			t.Errorf("no exported span has the response's tracking id %q", tid)
		}
	})
	t.Run("OTEL_SDK_DISABLED=true", func(t *testing.T) {
		rcv := startOTLPReceiver(t, nil)
		setTelemetryEnv(t, rcv.addr)
		t.Setenv("OTEL_SDK_DISABLED", "true")
		tid, stdout := serveAndShutdown(t)
		if traces, metrics, logs := rcv.counts(); traces+metrics+logs != 0 {
			t.Errorf("disabled SDK exported %d trace, %d metric, %d log requests", traces, metrics, logs)
		}
		// Exporting is off; the tracking id is not (docs/configuration.md).
		if !hex32.MatchString(tid) || tid == strings.Repeat("0", 32) {
			t.Errorf("X-Tracking-ID %q with the SDK disabled, want 32 lowercase hex, non-zero", tid)
		}
		var logged bool
		for _, l := range stdout.lines(t) {
			if l["message"] == "ping served" {
				logged = true
				if l["tracking_id"] != tid {
					t.Errorf("stdout line has tracking_id %v, want the response's %q", l["tracking_id"], tid)
				}
			}
		}
		if !logged {
			t.Error("the handler's log line is missing from stdout")
		}
	})
}

// The identity every series, span and log record carries is set by the SDK;
// the collector only fills it in for senders that have none.
func TestSetupExportsServiceEnvironmentProjectOnEverySignal(t *testing.T) {
	rcv := startOTLPReceiver(t, nil)
	setTelemetryEnv(t, rcv.addr)
	// The documented variables win over the generic one; other keys in it stay.
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "project=from-resource-attributes,deployment.environment.name=prod,team=observability")
	serveAndShutdown(t)
	want := map[string]string{
		string(semconv.ServiceNameKey):               envTestService,
		string(semconv.DeploymentEnvironmentNameKey): envTestEnvironment,
		"project": envTestProject,
		"team":    "observability",
	}
	got := rcv.resources()
	for _, signal := range []string{"traces", "metrics", "logs"} {
		if len(got[signal]) == 0 {
			t.Errorf("no %s received", signal)
			continue
		}
		for _, res := range got[signal] {
			attrs := stringAttrs(res)
			for k, v := range want {
				if attrs[k] != v {
					t.Errorf("%s resource attribute %s = %q, want %q (all: %v)", signal, k, attrs[k], v, attrs)
				}
			}
		}
	}
}
