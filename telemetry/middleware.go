package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/felixge/httpsnoop"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// DefaultMaxHeaderBytes is the request header budget the middleware enforces
// with a JSON 431. Set http.Server.MaxHeaderBytes above it: net/http answers
// requests over its own limit with a plain-text 431 before any handler runs.
const DefaultMaxHeaderBytes = 32 << 10

// Middleware returns the server middleware for this service: an otelhttp
// server span per request (named by its route pattern), the tracking id in
// the X-Tracking-ID header of every response, panic recovery into a JSON
// 500, a header size limit, load shedding past WithMaxInFlight and one
// access log line per request. The client address comes from
// X-Forwarded-For only behind Config.TrustedProxies.
func (t *Telemetry) Middleware(opts ...Option) func(http.Handler) http.Handler {
	base := []Option{
		WithTracerProvider(t.TracerProvider),
		WithMeterProvider(t.MeterProvider),
		WithPropagators(t.Propagator),
		WithLogger(t.Logger),
		WithServiceName(t.Config.ServiceName),
		WithMetrics(t.Metrics),
	}
	proxies, err := t.Config.trustedProxies()
	if err != nil && t.Logger != nil {
		// Setup refuses such a Config; a hand-built Telemetry gets the peer address.
		t.Logger.Warn("TRUSTED_PROXIES ignored; client addresses are peer addresses", "otel_error", err.Error())
	}
	if len(proxies) > 0 {
		base = append(base, WithTrustedProxies(proxies...))
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
		m := &middleware{cfg: c, next: next}
		m.mux, _ = next.(*http.ServeMux)
		return traced(m)
	}
}

type middleware struct {
	cfg  *config
	next http.Handler
	// mux, when next is one, is matched here, once: its route is known
	// before the handler runs, for active_requests and the span.
	mux       *http.ServeMux
	wildcards sync.Map       // pattern → []wildcard
	logPC     atomic.Uintptr // the access line's call site, for its source field
	inFlight  atomic.Int64   // requests counted against cfg.maxInFlight
}

// requestState is everything the middleware keeps for one request, in one
// allocation. It is also the request's context: the parent's, plus this
// state as the value of requestInfoKey (what context.WithValue would add,
// without a second allocation).
type requestState struct {
	context.Context
	info          requestInfo
	rec           responseRecorder
	route         *routeSeries
	clientAddress string
	trackingID    [1]string // the X-Tracking-ID header value
	spanAttrs     [3]attribute.KeyValue
	requestAttrs  [7]slog.Attr
	responseAttrs [3]slog.Attr
}

func (s *requestState) Value(key any) any {
	if key == (requestInfoKey{}) {
		return &s.info
	}
	return s.Context.Value(key)
}

// ServeHTTP runs inside otelhttp's span; r is the request otelhttp holds.
func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := &requestState{Context: r.Context(), clientAddress: m.cfg.clientAddress(r)}
	span := trace.SpanFromContext(st.Context)
	st.trackingID[0] = TrackingID(st.Context)
	// Before the handler runs, so 404s, 405s and panics carry it too.
	w.Header()[canonicalTrackingHeader] = st.trackingID[:]

	inner := r.WithContext(st)
	st.rec.ResponseWriter, st.rec.req = w, inner
	handler := m.next
	routedHere := m.mux != nil && r.RequestURI != "*" // the mux answers "*" itself, matching nothing
	if routedHere {
		var pattern string
		handler, pattern = m.mux.Handler(inner)
		m.setPathValues(inner, pattern)
		// Pattern on otelhttp's request too: it names the span from it.
		r.Pattern, inner.Pattern, st.info.route = pattern, pattern, pattern
		st.route = m.cfg.metrics.series.route(m.cfg.metrics, routeOrUnmatched(pattern))
	} else {
		st.route = m.cfg.metrics.series.route(m.cfg.metrics, UnmatchedRoute)
	}
	attrs := append(st.spanAttrs[:0], AttrTrackingID.String(st.trackingID[0]))
	if _, forwarded := r.Header["X-Forwarded-For"]; forwarded {
		// Replaces otelhttp's client.address, which believes any
		// X-Forwarded-For; without one, otelhttp's is the peer, as ours.
		attrs = append(attrs, semconv.ClientAddress(st.clientAddress))
	}
	if st.info.route != "" {
		attrs = append(attrs, semconv.HTTPRoute(routePath(st.info.route)))
	}
	span.SetAttributes(attrs...)

	active := st.route
	m.cfg.metrics.active.Add(st, 1, active.active...)
	defer m.cfg.metrics.active.Add(st, -1, active.active...)

	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler { // net/http's own signal to abort quietly
				panic(p)
			}
			m.recovered(st, p)
		}
		m.finish(st, r, start)
	}()

	if n := headerSize(r); n > m.cfg.maxHeaderBytes {
		WriteError(&st.rec, http.StatusRequestHeaderFieldsTooLarge, "headers_too_large",
			fmt.Sprintf("request headers are %d bytes; the limit is %d", n, m.cfg.maxHeaderBytes))
		return
	}
	if m.cfg.maxInFlight > 0 && !m.cfg.neverShed[r.URL.Path] {
		defer m.inFlight.Add(-1)
		if m.inFlight.Add(1) > int64(m.cfg.maxInFlight) {
			st.rec.Header().Set("Retry-After", ShedRetryAfter)
			WriteError(&st.rec, http.StatusServiceUnavailable, "overloaded",
				fmt.Sprintf("the service is at its limit of %d concurrent requests; retry after %s s", m.cfg.maxInFlight, ShedRetryAfter))
			return
		}
	}
	if !routedHere {
		// Another handler routes: its pattern is known once it ran.
		defer func() {
			r.Pattern, st.info.route = inner.Pattern, inner.Pattern
			if inner.Pattern != "" {
				span.SetAttributes(semconv.HTTPRoute(routePath(inner.Pattern)))
			}
		}()
	}
	handler.ServeHTTP(st.rec.wrap(), inner)
}

// recovered turns a panic into an ERROR log (which records the exception,
// with the panicking goroutine's stack, on the span) and a JSON 500.
func (m *middleware) recovered(st *requestState, p any) {
	err, ok := p.(error)
	if !ok {
		err = fmt.Errorf("%v", p)
	}
	st.info.panicked = true
	m.cfg.logger.LogAttrs(st, slog.LevelError, "panic recovered while serving request", Error(err, "panic", CategoryServer))
	// Also when the logger's level hides ERROR (or it is another handler).
	trace.SpanFromContext(st).SetStatus(codes.Error, "panic: "+err.Error())
	if !st.rec.wroteHeader {
		WriteError(&st.rec, http.StatusInternalServerError, "internal", "internal error; quote the tracking_id when reporting it")
	}
}

func (m *middleware) finish(st *requestState, r *http.Request, start time.Time) {
	status := st.rec.status
	if status == 0 { // nothing written, or only flushed: net/http sends 200
		status = http.StatusOK
	}
	route := st.route
	if route.endpoint == UnmatchedRoute && st.info.route != "" { // routed by another handler
		route = m.cfg.metrics.series.route(m.cfg.metrics, routePath(st.info.route))
	}
	duration := time.Since(start)
	m.cfg.metrics.httpDone(st, route, r.Method, status, duration, &st.info)
	m.logAccess(st, r, start, status, duration)
}

// logAccess writes the access line. It builds the record itself, with the
// attributes in st and a call site found once, instead of through
// Logger.LogAttrs, which walks the stack for every line.
func (m *middleware) logAccess(st *requestState, r *http.Request, start time.Time, status int, duration time.Duration) {
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelWarn
	}
	handler := m.cfg.logger.Handler()
	if !handler.Enabled(st, level) {
		return
	}
	pc := m.logPC.Load()
	if pc == 0 {
		var pcs [1]uintptr
		runtime.Callers(1, pcs[:])
		pc = pcs[0]
		m.logPC.Store(pc)
	}
	st.requestAttrs = [...]slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("route", routeOrUnmatched(st.info.route)),
		slog.Int64("size", max(r.ContentLength, 0)),
		slog.Duration("duration", duration),
		slog.String("user_agent", r.UserAgent()),
		slog.String("ip", st.clientAddress),
	}
	st.responseAttrs = [...]slog.Attr{
		slog.Int("status", status),
		slog.Int64("size", st.rec.size),
		slog.String("content_type", st.rec.Header().Get("Content-Type")),
	}
	code := statusText(status)
	rec := slog.NewRecord(start.Add(duration), level, r.Method+" "+r.URL.Path+" - "+code, pc)
	rec.AddAttrs(
		slog.Attr{Key: "request", Value: slog.GroupValue(st.requestAttrs[:]...)},
		slog.Attr{Key: "response", Value: slog.GroupValue(st.responseAttrs[:]...)},
	)
	if st.info.userID != "" {
		rec.AddAttrs(User(st.info.userID, st.info.userSegment))
	}
	if st.info.sessionID != "" {
		rec.AddAttrs(Session(st.info.sessionID))
	}
	_ = handler.Handle(st, rec)
}

// spanName names server spans "METHOD /pattern" (semconv's {method} {route}),
// or just the method when no route matched, keeping span names
// low-cardinality: a method outside the standard ones is "HTTP", as in
// otelhttp's own names.
func spanName(_ string, r *http.Request) string {
	method := r.Method
	if normalizeMethod(method) == otherMethodLabelValue {
		method = "HTTP"
	}
	if r.Pattern == "" {
		return method
	}
	key := spanNameKey{method, r.Pattern}
	if name, ok := spanNames.Load(key); ok {
		return name.(string)
	}
	name := method + " " + routePath(r.Pattern)
	spanNames.Store(key, name) // bounded: standard methods × registered patterns
	return name
}

// spanNames caches each route's span name: otelhttp asks for it on every request.
var spanNames sync.Map // spanNameKey → string

type spanNameKey struct{ method, pattern string }

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

// canonicalTrackingHeader is HeaderTrackingID as http.Header keys it
// ("X-Tracking-Id"): the middleware sets the map entry directly, with the
// value slice in its request state, to save Header.Set's allocation.
var canonicalTrackingHeader = http.CanonicalHeaderKey(HeaderTrackingID)

// UnmatchedRoute is the route value of requests no pattern matched.
const UnmatchedRoute = "unmatched"

func routeOrUnmatched(pattern string) string {
	if pattern == "" {
		return UnmatchedRoute
	}
	return routePath(pattern)
}

// statusCodes holds "100101102…999": statusText slices it, so a status
// code's text costs no allocation.
var statusCodes = func() string {
	var b strings.Builder
	for code := 100; code <= 999; code++ {
		fmt.Fprintf(&b, "%03d", code)
	}
	return b.String()
}()

func statusText(code int) string {
	if code < 100 || code > 999 {
		return "000"
	}
	i := (code - 100) * 3
	return statusCodes[i : i+3]
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

// responseRecorder remembers the status and size written. The handler gets
// it through wrap, which keeps the writer's optional interfaces (Flusher,
// Hijacker, io.ReaderFrom, ...), and http.ResponseController reaches the
// writer underneath through Unwrap.
//
// It also turns ServeMux's plain-text "404 page not found" and "405 method
// not allowed" (written when no route matched) into our JSON error body, so
// every error a client sees has the same shape and its tracking id.
type responseRecorder struct {
	http.ResponseWriter
	req         *http.Request // as passed to the handler, with its Pattern
	status      int
	size        int64
	wroteHeader bool
	rewriting   bool // writing our JSON body in place of the mux's
	swallow     bool // drop the mux's plain-text body after our JSON one

	nextWriteHeader httpsnoop.WriteHeaderFunc
	nextWrite       httpsnoop.WriteFunc
	nextReadFrom    httpsnoop.ReadFromFunc
}

// wrap returns the writer the handler gets: ResponseWriter's methods and
// ReadFrom go through w, every other method straight to the writer below.
// Flush needs no hook: a flush before any write sends 200, which is what an
// unwritten status reports.
func (w *responseRecorder) wrap() http.ResponseWriter {
	return httpsnoop.Wrap(w.ResponseWriter, httpsnoop.Hooks{
		WriteHeader: func(next httpsnoop.WriteHeaderFunc) httpsnoop.WriteHeaderFunc {
			w.nextWriteHeader = next
			return w.WriteHeader
		},
		Write: func(next httpsnoop.WriteFunc) httpsnoop.WriteFunc {
			w.nextWrite = next
			return w.Write
		},
		ReadFrom: func(next httpsnoop.ReadFromFunc) httpsnoop.ReadFromFunc {
			w.nextReadFrom = next
			return w.ReadFrom
		},
	})
}

func (w *responseRecorder) WriteHeader(code int) {
	if w.wroteHeader {
		w.writeHeader(code) // let net/http report the superfluous call
		return
	}
	if !w.rewriting && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) &&
		w.req.Pattern == "" && strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		w.rewriting = true
		if code == http.StatusNotFound {
			WriteError(w, code, "not_found", "no route matches this path")
		} else {
			WriteError(w, code, "method_not_allowed", "this path does not accept that method; see the Allow header")
		}
		w.rewriting, w.swallow = false, true
		return
	}
	if code >= 200 {
		w.status, w.wroteHeader = code, true
	}
	w.writeHeader(code)
}

func (w *responseRecorder) Write(p []byte) (int, error) {
	if w.swallow {
		return len(p), nil
	}
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	var n int
	var err error
	if w.nextWrite != nil {
		n, err = w.nextWrite(p)
	} else {
		n, err = w.ResponseWriter.Write(p)
	}
	w.size += int64(n)
	return n, err
}

// ReadFrom is reached only when the writer below has it (io.Copy to a
// net/http response uses sendfile).
func (w *responseRecorder) ReadFrom(src io.Reader) (int64, error) {
	if w.swallow {
		return io.Copy(io.Discard, src)
	}
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	n, err := w.nextReadFrom(src)
	w.size += n
	return n, err
}

func (w *responseRecorder) writeHeader(code int) {
	if w.nextWriteHeader != nil {
		w.nextWriteHeader(code)
		return
	}
	w.ResponseWriter.WriteHeader(code)
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
