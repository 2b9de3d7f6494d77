package telemetry

import (
	"log/slog"
	"net/http"
	"net/netip"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Option configures the middleware and the HTTP client transport.
type Option func(*config)

type config struct {
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	propagators    propagation.TextMapPropagator
	logger         *slog.Logger
	trusted        func(*http.Request) bool
	trustedProxies []netip.Prefix
	maxHeaderBytes int
	serviceName    string
	metrics        *Metrics
	maxInFlight    int
	neverShed      map[string]bool // URL paths
}

func newConfig(opts []Option) *config {
	c := &config{maxHeaderBytes: DefaultMaxHeaderBytes}
	for _, o := range opts {
		o(c)
	}
	if c.tracerProvider == nil {
		c.tracerProvider = otel.GetTracerProvider()
	}
	c.tracerProvider = withRandomFlag(c.tracerProvider)
	if c.meterProvider == nil {
		c.meterProvider = otel.GetMeterProvider()
	}
	if c.propagators == nil {
		// W3C, explicitly: the global default is a no-op until Setup runs,
		// and a service that silently drops traceparent breaks the trace.
		c.propagators = DefaultPropagator()
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.serviceName == "" {
		c.serviceName = UnknownLabelValue
	}
	return c
}

// WithTracerProvider sets the tracer provider; default the global one.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tracerProvider = tp }
}

// WithMeterProvider sets the meter provider; default the global one.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.meterProvider = mp }
}

// WithPropagators sets the propagators; default DefaultPropagator().
func WithPropagators(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.propagators = p }
}

// WithLogger sets the logger for access lines and recovered panics.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithTrustedCaller makes the middleware continue an incoming trace only for
// requests fn accepts (an authenticated client); others start a fresh trace
// linked to the one they claimed. Without it every valid traceparent is
// continued, which suits services reached only from inside.
func WithTrustedCaller(fn func(*http.Request) bool) Option {
	return func(c *config) { c.trusted = fn }
}

// WithTrustedProxies names the proxies (load balancers) whose
// X-Forwarded-For the middleware believes. A request from one of them is
// attributed to the right-most address in X-Forwarded-For that is not
// itself a trusted proxy; a request from anywhere else to its peer address,
// whatever X-Forwarded-For it claims. That address is the span's
// client.address and the access line's request.ip.
func WithTrustedProxies(cidrs ...netip.Prefix) Option {
	return func(c *config) {
		c.trustedProxies = make([]netip.Prefix, len(cidrs))
		for i, p := range cidrs {
			c.trustedProxies[i] = p.Masked()
		}
	}
}

// WithServiceName names the service in the service_name label.
func WithServiceName(name string) Option {
	return func(c *config) { c.serviceName = name }
}

// WithMetrics makes the middleware record into m (default: instruments
// created on the meter provider).
func WithMetrics(m *Metrics) Option {
	return func(c *config) { c.metrics = m }
}

// WithMaxHeaderBytes sets the header budget answered with a JSON 431.
func WithMaxHeaderBytes(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxHeaderBytes = n
		}
	}
}

// ShedRetryAfter is the Retry-After, in seconds, of a request shed by
// WithMaxInFlight: long enough for the burst to pass, short enough that a
// client's retry is not a noticeable wait.
const ShedRetryAfter = "1"

// WithMaxInFlight bounds the requests the middleware lets through at once
// to n (0 or less: no bound). A request over the bound is answered at once
// with a JSON 503 "overloaded" and Retry-After, and still gets its span,
// access line and RED metrics. Requests for neverShed paths (health
// probes: an orchestrator must not restart a busy instance) always pass and
// are not counted.
func WithMaxInFlight(n int, neverShed ...string) Option {
	return func(c *config) {
		c.maxInFlight = max(n, 0)
		c.neverShed = make(map[string]bool, len(neverShed))
		for _, p := range neverShed {
			c.neverShed[p] = true
		}
	}
}
