package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
)

// The metric catalog: the design guide's names, with its unbounded labels
// (tracking_id, user_id, session_id) left out. Trace ids ride as exemplars
// (the SDK attaches the span in the context passed to Add/Record), user and
// session ids stay on spans and logs. docs/metrics.md maps guide to us.
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
	MetricUserActivity     = "user_activity_total"
	MetricWorkflowSuccess  = "workflow_success_rate"
	MetricServiceUptime    = "service_uptime_seconds"
	CardinalityLimit       = 500 // series per instrument; the rest fold into otel.metric.overflow="true"
	UnknownLabelValue      = "unknown"
	otherMethodLabelValue  = "_OTHER"
	noAPIVersionLabelValue = "none"
)

// Bucket boundaries from the design guide.
var (
	DurationBuckets        = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	WorkflowSuccessBuckets = []float64{0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1}
)

// metricLabels is each instrument's complete label set. Views drop any other
// attribute, so a stray user id in service code cannot become a label.
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
	MetricUserActivity:    {"activity_type", "service_name"},
	MetricWorkflowSuccess: {"workflow_type", "complexity_level"},
	MetricServiceUptime:   {"service_name"},
}

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

// MetricViews are the SDK views Setup installs: one label allow-list per
// catalog instrument.
func MetricViews() []sdkmetric.View {
	views := make([]sdkmetric.View, 0, len(metricLabels))
	for name, keys := range metricLabels {
		ks := make([]attribute.Key, len(keys))
		for i, k := range keys {
			ks[i] = attribute.Key(k)
		}
		views = append(views, sdkmetric.NewView(
			sdkmetric.Instrument{Name: name},
			sdkmetric.Stream{AttributeFilter: attribute.NewAllowKeysFilter(ks...), ExemplarReservoirProviderSelector: freshExemplars},
		))
	}
	return views
}

// Metrics holds a service's instruments. Record through its methods; the
// middleware records the HTTP ones itself.
type Metrics struct {
	service string
	prices  PriceTable
	log     *slog.Logger

	requests   metric.Int64Counter
	duration   metric.Float64Histogram
	errors     metric.Int64Counter
	active     metric.Int64UpDownCounter
	aiRequests metric.Int64Counter
	aiTokens   metric.Int64Counter
	aiCost     metric.Float64Counter
	keyUsage   metric.Int64Counter
	endpoints  metric.Int64Counter
	activity   metric.Int64Counter
	workflows  metric.Float64Histogram

	unpricedMu sync.Mutex
	unpriced   map[string]bool
}

// NewMetrics creates the catalog's instruments for service on mp.
func NewMetrics(mp metric.MeterProvider, service string) (*Metrics, error) {
	m := &Metrics{service: service, unpriced: map[string]bool{}, log: slog.Default()}
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
	m.activity = counter(MetricUserActivity, "User activity events by type")

	var err error
	m.duration, err = meter.Float64Histogram(MetricRequestDuration, metric.WithDescription("HTTP request duration"), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(DurationBuckets...))
	errs = append(errs, err)
	m.workflows, err = meter.Float64Histogram(MetricWorkflowSuccess, metric.WithDescription("Share of a workflow's steps that completed, per run"),
		metric.WithExplicitBucketBoundaries(WorkflowSuccessBuckets...))
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

// SetPrices sets the table ai_cost_total is computed from.
func (m *Metrics) SetPrices(p PriceTable) { m.prices = p }

// SetLogger sets where the catalog reports problems (a model without price).
func (m *Metrics) SetLogger(l *slog.Logger) { m.log = l }

// httpDone records the RED metrics of one finished request.
func (m *Metrics) httpDone(ctx context.Context, r *http.Request, endpoint string, status int, d time.Duration, info *requestInfo) {
	method := normalizeMethod(r.Method)
	svc := attribute.String("service_name", m.service)
	ep := attribute.String("endpoint", endpoint)
	meth := attribute.String("method", method)
	code := attribute.String("status_code", strconv.Itoa(status))
	version := attribute.String("api_version", apiVersion(endpoint))

	m.requests.Add(ctx, 1, metric.WithAttributes(svc, ep, meth, code, version))
	m.duration.Record(ctx, d.Seconds(), metric.WithAttributes(svc, ep, meth))
	if status >= 400 {
		m.errors.Add(ctx, 1, metric.WithAttributes(svc, ep, meth, attribute.String("error_type", errorType(status, info.panicked)), code))
	}
	segment := info.userSegment
	if segment == "" {
		segment = UnknownLabelValue
	}
	m.endpoints.Add(ctx, 1, metric.WithAttributes(svc, ep, version, attribute.String("user_segment", segment)))
	if info.apiKeyID != "" {
		m.keyUsage.Add(ctx, 1, metric.WithAttributes(
			attribute.String("api_key_id", info.apiKeyID), attribute.String("client_name", info.apiClient),
			svc, ep, attribute.Bool("success", status < 400)))
	}
}

func (m *Metrics) activeAdd(ctx context.Context, endpoint string, n int64) {
	m.active.Add(ctx, n, metric.WithAttributes(attribute.String("service_name", m.service), attribute.String("endpoint", endpoint)))
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

// Activity types of user_activity_total.
const (
	ActivityCreateSession = "create_session"
	ActivityGetSession    = "get_session"
	ActivityRunWorkflow   = "run_workflow"
	ActivityGetWorkflow   = "get_workflow"
)

// UserActivity counts one user action. The user is on the span and the
// log line; only the kind of action is a label.
func (m *Metrics) UserActivity(ctx context.Context, activityType string) {
	m.activity.Add(ctx, 1, metric.WithAttributes(attribute.String("activity_type", activityType), attribute.String("service_name", m.service)))
}

// WorkflowOutcome records the share of a run's steps that completed.
func (m *Metrics) WorkflowOutcome(ctx context.Context, workflowType string, completed, total int) {
	if workflowType == "" {
		workflowType = UnknownLabelValue
	}
	ratio := 0.0
	if total > 0 {
		ratio = float64(completed) / float64(total)
	}
	m.workflows.Record(ctx, ratio, metric.WithAttributes(attribute.String("workflow_type", workflowType),
		attribute.String("complexity_level", ComplexityLevel(total))))
}

// ComplexityLevel buckets a plan's size: low (≤3 steps), medium (≤6), high.
func ComplexityLevel(steps int) string {
	switch {
	case steps <= 3:
		return "low"
	case steps <= 6:
		return "medium"
	default:
		return "high"
	}
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
