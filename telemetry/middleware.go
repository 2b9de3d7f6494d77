package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/starmates-ai/ai-teams/internal/httpjson"
)

// DefaultMaxHeaderBytes is the request header budget the middleware enforces
// with a JSON 431. Set http.Server.MaxHeaderBytes above it: net/http answers
// requests over its own limit with a plain-text 431 before any handler runs.
const DefaultMaxHeaderBytes = 32 << 10

// Middleware returns the server middleware for this service: an otelhttp
// server span per request (named by its route pattern), the tracking id in
// the X-Tracking-ID header of every response, panic recovery into a JSON
// 500, a header size limit and one access log line per request.
func (t *Telemetry) Middleware(opts ...Option) func(http.Handler) http.Handler {
	base := []Option{
		WithTracerProvider(t.TracerProvider),
		WithMeterProvider(t.MeterProvider),
		WithPropagators(t.Propagator),
		WithLogger(t.Logger),
		WithServiceName(t.Config.ServiceName),
		WithMetrics(t.Metrics),
	}
	return NewMiddleware(append(base, opts...)...)
}

// NewMiddleware is Middleware without a *Telemetry: unset options fall back
// to the OTel globals and slog.Default().
func NewMiddleware(opts ...Option) func(http.Handler) http.Handler {
	c := newConfig(opts)
	if c.metrics == nil {
		m, err := NewMetrics(c.meterProvider, c.serviceName)
		if err != nil {
			c.logger.Warn("metric instruments unavailable; recording none", "otel_error", err.Error())
			m, _ = NewMetrics(metricnoop.NewMeterProvider(), c.serviceName)
		}
		c.metrics = m
	}
	otelOpts := []otelhttp.Option{
		otelhttp.WithSpanNameFormatter(spanName),
		otelhttp.WithTracerProvider(c.tracerProvider),
		// Our catalog (request_count, request_duration_seconds, ...) is the
		// RED source; otelhttp's own http.server.* series would double them.
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithPropagators(c.propagators),
	}
	if c.trusted != nil {
		// An untrusted caller's traceparent is linked, not continued: it
		// cannot choose our tracking id or inherit a sampling decision.
		trusted := c.trusted
		otelOpts = append(otelOpts, otelhttp.WithPublicEndpointFn(func(r *http.Request) bool { return !trusted(r) }))
	}
	traced := otelhttp.NewMiddleware("http.server", otelOpts...)
	return func(next http.Handler) http.Handler {
		mux, _ := next.(*http.ServeMux)
		return traced(&middleware{cfg: c, next: next, mux: mux})
	}
}

type middleware struct {
	cfg  *config
	next http.Handler
	mux  *http.ServeMux // when next is a mux: its route is known before it runs
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	span := trace.SpanFromContext(ctx)
	tid := TrackingID(ctx)
	// Before the handler runs, so 404s, 405s and panics carry it too.
	w.Header().Set(HeaderTrackingID, tid)
	span.SetAttributes(AttrTrackingID.String(tid))

	info := &requestInfo{}
	ctx = context.WithValue(ctx, requestInfoKey{}, info)
	inner := r.WithContext(ctx)
	rec := &responseRecorder{ResponseWriter: w, req: inner}

	activeEndpoint := UnmatchedRoute
	if m.mux != nil {
		_, pattern := m.mux.Handler(inner)
		activeEndpoint = routeOrUnmatched(pattern)
	}
	m.cfg.metrics.activeAdd(ctx, activeEndpoint, 1)
	defer m.cfg.metrics.activeAdd(ctx, activeEndpoint, -1)

	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler { // net/http's own signal to abort quietly
				panic(p)
			}
			m.recovered(ctx, rec, p)
		}
		// r is the request otelhttp holds; ServeMux sets Pattern on the copy
		// we passed down, so copy it back for the span name.
		m.finish(ctx, rec, r, start, info)
	}()

	if n := headerSize(r); n > m.cfg.maxHeaderBytes {
		httpjson.WriteError(rec, http.StatusRequestHeaderFieldsTooLarge, "headers_too_large",
			fmt.Sprintf("request headers are %d bytes; the limit is %d", n, m.cfg.maxHeaderBytes))
		return
	}
	defer func() { r.Pattern = inner.Pattern; info.route = inner.Pattern }()
	m.next.ServeHTTP(rec, inner)
}

// recovered turns a panic into an ERROR log (which records the exception,
// with the panicking goroutine's stack, on the span) and a JSON 500.
func (m *middleware) recovered(ctx context.Context, w *responseRecorder, p any) {
	err, ok := p.(error)
	if !ok {
		err = fmt.Errorf("%v", p)
	}
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		info.panicked = true
	}
	m.cfg.logger.LogAttrs(ctx, slog.LevelError, "panic recovered while serving request", Error(err, "panic", CategoryServer))
	// Also when the logger's level hides ERROR (or it is another handler).
	trace.SpanFromContext(ctx).SetStatus(codes.Error, "panic: "+err.Error())
	if !w.wroteHeader {
		httpjson.WriteError(w, http.StatusInternalServerError, "internal", "internal error; quote the tracking_id when reporting it")
	}
}

func (m *middleware) finish(ctx context.Context, w *responseRecorder, r *http.Request, start time.Time, info *requestInfo) {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	span := trace.SpanFromContext(ctx)
	if info.route != "" {
		span.SetAttributes(semconv.HTTPRoute(routePath(info.route)))
	}
	duration := time.Since(start)
	m.cfg.metrics.httpDone(ctx, r, routeOrUnmatched(info.route), status, duration, info)
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelWarn
	}
	if !m.cfg.logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 4)
	attrs = append(attrs,
		slog.Group("request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", routeOrUnmatched(info.route)),
			slog.Int64("size", max(r.ContentLength, 0)),
			slog.Duration("duration", duration),
			slog.String("user_agent", r.UserAgent()),
			slog.String("ip", clientIP(r)),
		),
		slog.Group("response",
			slog.Int("status", status),
			slog.Int64("size", w.size),
			slog.String("content_type", w.Header().Get("Content-Type")),
		),
	)
	if info.userID != "" {
		attrs = append(attrs, User(info.userID, info.userSegment))
	}
	if info.sessionID != "" {
		attrs = append(attrs, Session(info.sessionID))
	}
	msg := r.Method + " " + r.URL.Path + " - " + statusText(status)
	m.cfg.logger.LogAttrs(ctx, level, msg, attrs...)
}

// spanName names server spans "METHOD /pattern" (semconv's {method} {route}),
// or just the method when no route matched, keeping span names low-cardinality.
func spanName(_ string, r *http.Request) string {
	if r.Pattern == "" {
		return r.Method
	}
	return r.Method + " " + routePath(r.Pattern)
}

// routePath strips the method (and host) from a ServeMux pattern:
// "POST /api/v1/workflows" → "/api/v1/workflows".
func routePath(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = strings.TrimLeft(pattern[i+1:], " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:]
	}
	return pattern
}

// UnmatchedRoute is the route value of requests no pattern matched.
const UnmatchedRoute = "unmatched"

func routeOrUnmatched(pattern string) string {
	if pattern == "" {
		return UnmatchedRoute
	}
	return routePath(pattern)
}

func statusText(code int) string {
	const digits = "0123456789"
	if code < 100 || code > 999 {
		return "000"
	}
	return string([]byte{digits[code/100], digits[code/10%10], digits[code%10]})
}

func headerSize(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

func clientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

// responseRecorder remembers the status and size written. Unwrap lets
// http.ResponseController reach the underlying writer (Flush, deadlines).
//
// It also turns ServeMux's plain-text "404 page not found" and "405 method
// not allowed" (written when no route matched) into our JSON error body, so
// every error a client sees has the same shape and its tracking id.
type responseRecorder struct {
	http.ResponseWriter
	req         *http.Request // as passed to the mux, which sets its Pattern
	status      int
	size        int64
	wroteHeader bool
	rewriting   bool // writing our JSON body in place of the mux's
	swallow     bool // drop the mux's plain-text body after our JSON one
}

func (w *responseRecorder) WriteHeader(code int) {
	if w.wroteHeader {
		w.ResponseWriter.WriteHeader(code) // let net/http report the superfluous call
		return
	}
	if !w.rewriting && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) &&
		w.req.Pattern == "" && strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		w.rewriting = true
		if code == http.StatusNotFound {
			httpjson.WriteError(w, code, "not_found", "no route matches this path")
		} else {
			httpjson.WriteError(w, code, "method_not_allowed", "this path does not accept that method; see the Allow header")
		}
		w.rewriting, w.swallow = false, true
		return
	}
	if code >= 200 {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseRecorder) Write(p []byte) (int, error) {
	if w.swallow {
		return len(p), nil
	}
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(p)
	w.size += int64(n)
	return n, err
}

func (w *responseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestInfo collects who the request is for, as handlers learn it, for
// the access line and the span.
type requestInfo struct {
	route       string
	userID      string
	userSegment string
	sessionID   string
	apiKeyID    string
	apiClient   string
	panicked    bool
}

type requestInfoKey struct{}

// SetUser records the request's user on its span and access log line.
// User ids go on spans and logs, never on metric labels.
func SetUser(ctx context.Context, id, segment string) {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		info.userID, info.userSegment = id, segment
	}
	attrs := []attribute.KeyValue{semconv.UserID(id)}
	if segment != "" {
		attrs = append(attrs, attribute.String("user.segment", segment))
	}
	trace.SpanFromContext(ctx).SetAttributes(attrs...)
}

// SetAPIKey records which API key (its short id, never the key) and client
// made the request, for api_key_usage_total and the span.
func SetAPIKey(ctx context.Context, keyID, client string) {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		info.apiKeyID, info.apiClient = keyID, client
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("api_key.id", keyID), attribute.String("api_key.client_name", client))
}

// SetSession records the request's session on its span and access log line.
func SetSession(ctx context.Context, id string) {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		info.sessionID = id
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("session.id", id))
}
