package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
)

// The generic instruments every service gets: RED per route, API key and
// endpoint usage, LLM calls and uptime, with the design guide's unbounded
// labels (tracking_id, user_id, session_id) left out. Trace ids ride as
// exemplars (the SDK attaches the span in the context passed to Add/Record),
// user and session ids stay on spans and logs. Domain metrics (what users
// do, how workflows turn out) are the catalog package's. docs/metrics.md maps
// guide to us.
const (
	MetricRequestCount     = "request_count"
	MetricRequestDuration  = "request_duration_seconds"
	MetricRequestErrors    = "request_errors_total"
	MetricActiveRequests   = "active_requests"
	MetricAIRequests       = "ai_requests_total"
	MetricAITokens         = "ai_tokens_total"
	MetricAICost           = "ai_cost_total"
	MetricAPIKeyUsage      = "api_key_usage_total"
	MetricEndpointUsage    = "endpoint_usage_total"
	MetricServiceUptime    = "service_uptime_seconds"
	CardinalityLimit       = 500 // series per instrument; the rest fold into otel.metric.overflow="true"
	UnknownLabelValue      = "unknown"
	otherMethodLabelValue  = "_OTHER"
	noAPIVersionLabelValue = "none"
)

// DurationBuckets are request_duration_seconds' bounds, from the design guide.
var DurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// freshExemplars keeps one exemplar per counter series: the first
// measurement after each export. Prometheus takes one exemplar per counter
// sample, and with the SDK's default (one slot per CPU) it could get a slot
// still holding a measurement from an earlier export — an older trace id,
// which it rejects as out of order. Histograms keep one per bucket.
func freshExemplars(agg sdkmetric.Aggregation) exemplar.ReservoirProvider {
	if h, ok := agg.(sdkmetric.AggregationExplicitBucketHistogram); ok && len(h.Boundaries) > 0 {
		return sdkmetric.DefaultExemplarReservoirProviderSelector(agg)
	}
	return exemplar.FixedSizeReservoirProvider(1)
}

// MetricViews are the SDK views Setup installs: fresh exemplars for every
// counter, this package's and those other packages (the domain catalog)
// create on the same provider. It is one view because the SDK makes a
// stream per matching view: overlapping views would export an instrument
// twice. No view filters labels: each instrument is unexported and recorded
// with one fixed label set (TestMetricLabelSets), and a filter would cost
// every measurement a second hash of its attributes.
func MetricViews() []sdkmetric.View {
	return []sdkmetric.View{func(inst sdkmetric.Instrument) (sdkmetric.Stream, bool) {
		if !isCounter(inst.Kind) {
			return sdkmetric.Stream{}, false
		}
		return sdkmetric.Stream{Name: inst.Name, Description: inst.Description, Unit: inst.Unit,
			ExemplarReservoirProviderSelector: freshExemplars}, true
	}}
}

func isCounter(k sdkmetric.InstrumentKind) bool {
	switch k {
	case sdkmetric.InstrumentKindCounter, sdkmetric.InstrumentKindUpDownCounter,
		sdkmetric.InstrumentKindObservableCounter, sdkmetric.InstrumentKindObservableUpDownCounter:
		return true
	}
	return false
}

// Metrics holds a service's instruments. Record through its methods; the
// middleware records the HTTP ones itself.
type Metrics struct {
	service  string
	provider metric.MeterProvider
	prices   PriceTable
	log      *slog.Logger
	series   seriesCache

	requests   metric.Int64Counter
	duration   metric.Float64Histogram
	errors     metric.Int64Counter
	active     metric.Int64UpDownCounter
	aiRequests metric.Int64Counter
	aiTokens   metric.Int64Counter
	aiCost     metric.Float64Counter
	keyUsage   metric.Int64Counter
	endpoints  metric.Int64Counter

	unpricedMu sync.Mutex
	unpriced   map[string]bool
}

// NewMetrics creates the catalog's instruments for service on mp.
func NewMetrics(mp metric.MeterProvider, service string) (*Metrics, error) {
	m := &Metrics{service: service, provider: mp, unpriced: map[string]bool{}, log: slog.Default()}
	meter := mp.Meter(ScopeName)
	var errs []error
	counter := func(name, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	m.requests = counter(MetricRequestCount, "HTTP requests served")
	m.errors = counter(MetricRequestErrors, "HTTP requests answered with 4xx or 5xx")
	m.aiRequests = counter(MetricAIRequests, "LLM calls")
	m.aiTokens = counter(MetricAITokens, "LLM tokens by type (input, output)")
	m.keyUsage = counter(MetricAPIKeyUsage, "API requests by key (a short hash, never the key)")
	m.endpoints = counter(MetricEndpointUsage, "Requests by endpoint and user segment")

	var err error
	m.duration, err = meter.Float64Histogram(MetricRequestDuration, metric.WithDescription("HTTP request duration"), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(DurationBuckets...))
	errs = append(errs, err)
	m.active, err = meter.Int64UpDownCounter(MetricActiveRequests, metric.WithDescription("HTTP requests in flight"))
	errs = append(errs, err)
	m.aiCost, err = meter.Float64Counter(MetricAICost, metric.WithDescription("LLM cost in USD from the price table"), metric.WithUnit("USD"))
	errs = append(errs, err)
	start := time.Now()
	_, err = meter.Float64ObservableGauge(MetricServiceUptime, metric.WithDescription("Seconds since the process started; stops growing when it dies"),
		metric.WithUnit("s"), metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			o.Observe(time.Since(start).Seconds(), metric.WithAttributes(attribute.String("service_name", service)))
			return nil
		}))
	errs = append(errs, err)
	return m, errors.Join(errs...)
}

// MeterProvider is the provider the instruments were created on: a domain
// catalog creates its own instruments there, so they are exported (and
// read in tests) with these.
func (m *Metrics) MeterProvider() metric.MeterProvider { return m.provider }

// ServiceName is the service_name label value of these instruments.
func (m *Metrics) ServiceName() string { return m.service }

// SetPrices sets the table ai_cost_total is computed from.
func (m *Metrics) SetPrices(p PriceTable) { m.prices = p }

// SetLogger sets where the catalog reports problems (a model without price).
func (m *Metrics) SetLogger(l *slog.Logger) { m.log = l }

// httpDone records the RED metrics of one finished request.
func (m *Metrics) httpDone(ctx context.Context, route *routeSeries, method string, status int, d time.Duration, info *requestInfo) {
	done := m.series.done(m, route, doneKey{method: normalizeMethod(method), status: status, segment: info.userSegment, panicked: info.panicked})
	m.requests.Add(ctx, 1, done.requests...)
	m.duration.Record(ctx, d.Seconds(), done.duration...)
	if done.errors != nil {
		m.errors.Add(ctx, 1, done.errors...)
	}
	m.endpoints.Add(ctx, 1, done.endpoints...)
	if info.apiKeyID != "" {
		m.keyUsage.Add(ctx, 1, m.series.keyUsage(m, route, keyUsageKey{id: info.apiKeyID, client: info.apiClient, success: status < 400})...)
	}
}

// AIUsage describes one LLM call.
type AIUsage struct {
	Provider     string
	Model        string
	InputTokens  int
	OutputTokens int
}

// RecordAI records one LLM call: the request, its tokens and its cost from
// the price table. It returns the cost in USD (0 for a model with no price).
func (m *Metrics) RecordAI(ctx context.Context, u AIUsage) float64 {
	model := attribute.String("model", u.Model)
	m.aiRequests.Add(ctx, 1, metric.WithAttributes(model, attribute.String("provider", u.Provider)))
	m.aiTokens.Add(ctx, int64(u.InputTokens), metric.WithAttributes(model, attribute.String("token_type", "input")))
	m.aiTokens.Add(ctx, int64(u.OutputTokens), metric.WithAttributes(model, attribute.String("token_type", "output")))
	cost, priced := m.prices.Cost(u.Model, u.InputTokens, u.OutputTokens)
	m.aiCost.Add(ctx, cost, metric.WithAttributes(model))
	if !priced {
		m.unpricedMu.Lock()
		first := !m.unpriced[u.Model]
		m.unpriced[u.Model] = true
		m.unpricedMu.Unlock()
		if first {
			m.log.WarnContext(ctx, "no price for model; its cost is counted as 0", "model", u.Model)
		}
	}
	return cost
}

// normalizeMethod keeps the label bounded: unknown methods become _OTHER.
func normalizeMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch,
		http.MethodHead, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return otherMethodLabelValue
}

// apiVersion reads "v1" from "/api/v1/...".
func apiVersion(endpoint string) string {
	rest, ok := strings.CutPrefix(endpoint, "/api/")
	if !ok {
		return noAPIVersionLabelValue
	}
	v, _, _ := strings.Cut(rest, "/")
	if len(v) >= 2 && len(v) <= 4 && v[0] == 'v' {
		return v
	}
	return noAPIVersionLabelValue
}

// errorType classifies a failed request into a bounded set.
func errorType(status int, panicked bool) string {
	switch {
	case panicked:
		return "panic"
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "auth"
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		return "not_found"
	case status == http.StatusTooManyRequests:
		return "rate_limited"
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		return "timeout"
	case status == http.StatusBadGateway || status == http.StatusServiceUnavailable:
		return "downstream"
	case status >= 500:
		return "server"
	default:
		return "validation"
	}
}
