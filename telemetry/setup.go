package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/log/global"
	lognoop "go.opentelemetry.io/otel/log/noop"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	otellog "go.opentelemetry.io/otel/log"
)

// ScopeName is the instrumentation scope of everything this package records.
const ScopeName = "github.com/starmates-ai/ai-teams/telemetry"

// Telemetry holds one service's providers and its logger. Create it with
// Setup, release it with Shutdown.
type Telemetry struct {
	Config         Config
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	LoggerProvider otellog.LoggerProvider
	Propagator     propagation.TextMapPropagator
	// Metrics is the service's metric catalog (see metrics.go).
	Metrics *Metrics

	shutdowns []providerShutdown
}

// Setup builds the tracer, meter and logger providers, installs them (and
// DefaultPropagator) as the OTel globals, and returns a
// logger that writes CloudWatch-shaped JSON to stdout and the same records to
// the OTel logs pipeline.
//
// Setup never dials: OTLP connections are made lazily, so a service starts
// (and serves) with no collector listening. Export failures are reported
// through the returned logger at most once per interval, never per request.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	level, _ := cfg.level()

	out := cfg.LogWriter
	if out == nil {
		out = os.Stdout
	}
	names, _ := cfg.fieldNames()
	lineOpts := HandlerOptions{Service: cfg.ServiceName, Level: level, FieldNames: names}
	stdout := NewHandler(out, lineOpts)

	t := &Telemetry{
		Config:     cfg,
		Propagator: DefaultPropagator(),
	}
	otel.SetTextMapPropagator(t.Propagator)
	otel.SetErrorHandler(newOnceErrorHandler(slog.New(stdout), time.Minute))

	if cfg.Disabled {
		// A tracer without exporters, not a no-op one: the tracking id is the
		// trace id, and a no-op tracer has none to give (it would also adopt
		// an untrusted caller's traceparent as ours).
		tp := sdktrace.NewTracerProvider()
		t.shutdowns = append(t.shutdowns, providerShutdown{"traces", tp.Shutdown})
		t.TracerProvider = withRandomFlag(tp)
		t.MeterProvider = metricnoop.NewMeterProvider()
		t.LoggerProvider = lognoop.NewLoggerProvider()
		t.Logger = slog.New(stdout)
		t.Metrics, _ = NewMetrics(t.MeterProvider, cfg.ServiceName)
		t.Metrics.SetLogger(t.Logger)
		return t, nil
	}

	normaliseEndpointEnv()
	enableSDKObservability()
	res, err := newResource(ctx, cfg)
	if err != nil {
		return nil, err
	}

	traceExp, err := otlptracegrpc.New(ctx, append(traceOptions(cfg.OTLPEndpoint), traceResilience()...)...)
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(traceExp, spanQueue()...), sdktrace.WithResource(res))
	t.shutdowns = append(t.shutdowns, providerShutdown{"traces", tp.Shutdown})

	metricExp, err := otlpmetricgrpc.New(ctx, append(metricOptions(cfg.OTLPEndpoint), metricResilience()...)...)
	if err != nil {
		return nil, errors.Join(err, t.Shutdown(ctx))
	}
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExp, metricReader()...)),
		sdkmetric.WithResource(res),
		sdkmetric.WithView(MetricViews()...),
		sdkmetric.WithView(selfObsViews()...),
		sdkmetric.WithCardinalityLimit(CardinalityLimit),
	)
	t.shutdowns = append(t.shutdowns, providerShutdown{"metrics", mp.Shutdown})

	logExp, err := otlploggrpc.New(ctx, append(logOptions(cfg.OTLPEndpoint), logResilience()...)...)
	if err != nil {
		return nil, errors.Join(err, t.Shutdown(ctx))
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(logExp, logQueue()...)), sdklog.WithResource(res))
	t.shutdowns = append(t.shutdowns, providerShutdown{"logs", lp.Shutdown})

	t.TracerProvider, t.MeterProvider, t.LoggerProvider = withRandomFlag(tp), mp, lp
	otel.SetTracerProvider(t.TracerProvider)
	otel.SetMeterProvider(mp)
	global.SetLoggerProvider(lp)

	bridge := otelslog.NewHandler(ScopeName, otelslog.WithLoggerProvider(lp), otelslog.WithVersion(cfg.ServiceVersion))
	lineOpts.Also = levelGate{bridge, level}
	t.Logger = slog.New(NewHandler(out, lineOpts))
	if t.Metrics, err = NewMetrics(mp, cfg.ServiceName); err != nil {
		return nil, errors.Join(err, t.Shutdown(ctx))
	}
	t.Metrics.SetLogger(t.Logger)
	return t, nil
}

// Shutdown flushes and stops every provider, in parallel so that one
// signal stuck on an unreachable collector does not starve the others. Call
// it once, with a deadline: with no collector answering it returns when ctx
// expires. Signals it could not deliver are reported in one WARN line (the
// OTel log pipeline is gone by then, so the line reaches stdout only) and
// in the returned error.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var within string
	if deadline, ok := ctx.Deadline(); ok {
		within = " within " + time.Until(deadline).Round(100*time.Millisecond).String()
	}
	errs := make([]error, len(t.shutdowns))
	var wg sync.WaitGroup
	for i, s := range t.shutdowns {
		wg.Go(func() { errs[i] = s.stop(ctx) })
	}
	wg.Wait()
	var undelivered []string
	for i, err := range errs {
		if err != nil {
			undelivered = append(undelivered, t.shutdowns[i].signal)
		}
	}
	t.shutdowns = nil
	err := errors.Join(errs...)
	if len(undelivered) > 0 && t.Logger != nil {
		t.Logger.LogAttrs(context.WithoutCancel(ctx), slog.LevelWarn,
			"telemetry flush incomplete: "+strings.Join(undelivered, ", ")+" not delivered"+within+"; they are dropped",
			// One line in a log viewer: errors.Join separates with newlines.
			Error(errors.New(strings.ReplaceAll(err.Error(), "\n", "; ")), "telemetry_flush_incomplete", CategoryNetwork))
	}
	return err
}

// providerShutdown is one provider's Shutdown, named by its signal for the
// report of what was dropped.
type providerShutdown struct {
	signal string // traces, metrics or logs
	stop   func(context.Context) error
}

// Tracer returns this package's tracer from the service's provider.
func (t *Telemetry) Tracer() trace.Tracer { return t.TracerProvider.Tracer(ScopeName) }

func newResource(ctx context.Context, cfg Config) (*resource.Resource, error) {
	// Explicit attributes win over OTEL_RESOURCE_ATTRIBUTES: they come from
	// the variables this project documents (ENVIRONMENT, PROJECT, ...).
	return resource.New(ctx,
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithAttributes(
			// One id per process: a restarted service gets series of its own
			// (Prometheus `instance`) instead of resetting its predecessor's.
			semconv.ServiceInstanceID(uuid.NewString()),
			semconv.ServiceName(cfg.ServiceName),
			semconv.ServiceVersion(cfg.ServiceVersion),
			semconv.DeploymentEnvironmentNameKey.String(cfg.Environment),
			attribute.String("project", cfg.Project),
		),
	)
}

// endpoint turns OTEL_EXPORTER_OTLP_ENDPOINT into host:port and whether TLS is
// off. A bare host:port (the conventions' form) means plaintext, as does http://.
func endpoint(raw string) (hostport string, insecure bool) {
	if !strings.Contains(raw, "://") {
		return raw, true
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw, true
	}
	return u.Host, u.Scheme != "https"
}

// normaliseEndpointEnv adds http:// to a scheme-less OTEL_EXPORTER_OTLP_ENDPOINT.
// The conventions use host:port, but the OTLP exporters also parse the
// variable themselves, as a URL, and log a parse error for host:port.
func normaliseEndpointEnv() {
	const key = "OTEL_EXPORTER_OTLP_ENDPOINT"
	if v := os.Getenv(key); v != "" && !strings.Contains(v, "://") {
		_ = os.Setenv(key, "http://"+v)
	}
}

// signalEndpointSet reports whether a signal-specific endpoint variable is
// set; the exporter then reads it itself and ours must not override it.
func signalEndpointSet(signal string) bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
}

func traceOptions(raw string) []otlptracegrpc.Option {
	if signalEndpointSet("TRACES") {
		return nil
	}
	hp, insecure := endpoint(raw)
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(hp)}
	if insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	return opts
}

func metricOptions(raw string) []otlpmetricgrpc.Option {
	if signalEndpointSet("METRICS") {
		return nil
	}
	hp, insecure := endpoint(raw)
	opts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpoint(hp)}
	if insecure {
		opts = append(opts, otlpmetricgrpc.WithInsecure())
	}
	return opts
}

func logOptions(raw string) []otlploggrpc.Option {
	if signalEndpointSet("LOGS") {
		return nil
	}
	hp, insecure := endpoint(raw)
	opts := []otlploggrpc.Option{otlploggrpc.WithEndpoint(hp)}
	if insecure {
		opts = append(opts, otlploggrpc.WithInsecure())
	}
	return opts
}

// levelGate applies the service's level to a handler that has none of its
// own (the OTel bridge forwards everything its provider enables).
type levelGate struct {
	slog.Handler
	min slog.Level
}

func (g levelGate) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= g.min && g.Handler.Enabled(ctx, l)
}
func (g levelGate) WithAttrs(as []slog.Attr) slog.Handler {
	return levelGate{g.Handler.WithAttrs(as), g.min}
}
func (g levelGate) WithGroup(name string) slog.Handler {
	return levelGate{g.Handler.WithGroup(name), g.min}
}

// onceErrorHandler logs the first OTel error and then at most one summary per
// interval: with the collector down every batch fails, and a log line per
// failure would bury the service's own logs.
type onceErrorHandler struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time // time.Now; tests step it across the interval

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func newOnceErrorHandler(l *slog.Logger, interval time.Duration) *onceErrorHandler {
	return &onceErrorHandler{log: l, interval: interval, now: time.Now}
}

func (h *onceErrorHandler) Handle(err error) {
	h.mu.Lock()
	now := h.now()
	if !h.last.IsZero() && now.Sub(h.last) < h.interval {
		h.suppressed++
		h.mu.Unlock()
		return
	}
	suppressed := h.suppressed
	h.last, h.suppressed = now, 0
	h.mu.Unlock()
	h.log.Warn("telemetry export failing; further errors are summarised",
		slog.String("otel_error", err.Error()),
		slog.Int("suppressed_since_last_report", suppressed),
		slog.String("report_interval", h.interval.String()))
}
