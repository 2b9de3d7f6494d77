package telemetry

import (
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
)

// NewTransport wraps base (nil: http.DefaultTransport) so every request gets
// a client span and carries W3C traceparent, tracestate and baggage from its
// context. Services never write those headers themselves.
func NewTransport(base http.RoundTripper, opts ...Option) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	c := newConfig(opts)
	return otelhttp.NewTransport(base,
		otelhttp.WithTracerProvider(c.tracerProvider),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()), // the server side's catalog counts requests
		otelhttp.WithPropagators(c.propagators),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			// Our clients call fixed paths, so method + path stays bounded.
			return r.Method + " " + r.URL.Path
		}),
	)
}

// HTTPClient returns a client with NewTransport and a timeout that bounds
// every call between services.
func HTTPClient(timeout time.Duration, opts ...Option) *http.Client {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &http.Client{Transport: NewTransport(nil, opts...), Timeout: timeout}
}
