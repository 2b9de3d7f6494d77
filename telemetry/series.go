package telemetry

import (
	"strconv"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// maxCachedSeries bounds the measurement options kept for reuse. Routes,
// methods, status codes, segments and API keys are bounded in practice;
// past the bound (a misbehaving caller inventing segments) requests are
// still recorded, with options built per request.
const maxCachedSeries = 4096

// seriesCache keeps the attribute sets of the middleware's measurements,
// built once per label combination: attribute.NewSet sorts and allocates,
// and a request would otherwise build five of them.
type seriesCache struct {
	routes sync.Map // endpoint string → *routeSeries
	size   atomic.Int64
}

// routeSeries is one endpoint's measurement options.
type routeSeries struct {
	endpoint string
	active   []metric.AddOption // active_requests
	done     sync.Map           // doneKey → *doneSeries
	keys     sync.Map           // keyUsageKey → []metric.AddOption
}

type doneKey struct {
	method   string // normalized
	status   int
	segment  string
	panicked bool
}

// doneSeries is what a finished request records.
type doneSeries struct {
	requests  []metric.AddOption
	duration  []metric.RecordOption
	errors    []metric.AddOption // nil below 400
	endpoints []metric.AddOption
}

type keyUsageKey struct {
	id, client string
	success    bool
}

// full reports whether the cache may not grow, and counts the entry when it may.
func (c *seriesCache) full() bool {
	if c.size.Load() >= maxCachedSeries {
		return true
	}
	c.size.Add(1)
	return false
}

func (c *seriesCache) route(m *Metrics, endpoint string) *routeSeries {
	if r, ok := c.routes.Load(endpoint); ok {
		return r.(*routeSeries)
	}
	r := &routeSeries{endpoint: endpoint, active: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
		attribute.String("service_name", m.service), attribute.String("endpoint", endpoint)))}}
	if c.full() {
		return r
	}
	actual, _ := c.routes.LoadOrStore(endpoint, r)
	return actual.(*routeSeries)
}

func (c *seriesCache) done(m *Metrics, r *routeSeries, k doneKey) *doneSeries {
	if d, ok := r.done.Load(k); ok {
		return d.(*doneSeries)
	}
	segment := k.segment
	if segment == "" {
		segment = UnknownLabelValue
	}
	svc := attribute.String("service_name", m.service)
	ep := attribute.String("endpoint", r.endpoint)
	meth := attribute.String("method", k.method)
	code := attribute.String("status_code", strconv.Itoa(k.status))
	version := attribute.String("api_version", apiVersion(r.endpoint))
	d := &doneSeries{
		requests:  []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(svc, ep, meth, code, version))},
		duration:  []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(svc, ep, meth))},
		endpoints: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(svc, ep, version, attribute.String("user_segment", segment)))},
	}
	if k.status >= 400 {
		d.errors = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(svc, ep, meth,
			attribute.String("error_type", errorType(k.status, k.panicked)), code))}
	}
	if c.full() {
		return d
	}
	actual, _ := r.done.LoadOrStore(k, d)
	return actual.(*doneSeries)
}

func (c *seriesCache) keyUsage(m *Metrics, r *routeSeries, k keyUsageKey) []metric.AddOption {
	if o, ok := r.keys.Load(k); ok {
		return o.([]metric.AddOption)
	}
	o := []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
		attribute.String("api_key_id", k.id), attribute.String("client_name", k.client),
		attribute.String("service_name", m.service), attribute.String("endpoint", r.endpoint), attribute.Bool("success", k.success)))}
	if c.full() {
		return o
	}
	actual, _ := r.keys.LoadOrStore(k, o)
	return actual.([]metric.AddOption)
}
