package telemetry

import (
	"context"
	"io"
	"log/slog"
	"sync"

	"go.opentelemetry.io/otel/trace"
)

// HandlerOptions configures the CloudWatch-shaped JSON handler.
type HandlerOptions struct {
	// Service fills the required `service` field.
	Service string
	// Level is the minimum level written; nil means INFO.
	Level slog.Leveler
}

// Handler is a slog.Handler writing one JSON object per line in the shape
// CloudWatch Logs Insights queries expect:
//
//	{"@timestamp":"2026-01-31T10:30:45.123Z","@level":"INFO","@message":"...",
//	 "service":"api-gateway","tracking_id":"<32 hex>",
//	 "tracing":{"trace_id":"<32 hex>","span_id":"<16 hex>"}, ...attrs}
//
// tracking_id and tracing come from the span in the context passed to the
// logger (use the *Context methods or LogAttrs); a line written outside any
// trace has neither. Groups nest as JSON objects, so slog.Group("request", …)
// becomes request.method etc. in Logs Insights.
type Handler struct {
	out  io.Writer
	mu   *sync.Mutex
	opts HandlerOptions

	pre     []byte   // fields added by WithAttrs, already encoded, each with a leading comma
	nOpen   int      // groups opened inside pre, closed at the end of each line
	pending []string // groups named by WithGroup that have no field yet
}

// NewHandler returns a Handler writing to out. Writes are serialised, one
// Write call per line.
func NewHandler(out io.Writer, opts HandlerOptions) *Handler {
	if opts.Level == nil {
		opts.Level = slog.LevelInfo
	}
	return &Handler{out: out, mu: new(sync.Mutex), opts: opts}
}

// Enabled reports whether l is at or above the handler's level.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.opts.Level.Level()
}

// WithAttrs returns a handler whose lines carry as, inside the current groups.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	h2 := h.clone()
	s := encoder{buf: h2.pre, needComma: true}
	s.openPending(&h2.pending, &h2.nOpen)
	for _, a := range as {
		s.attr(a)
	}
	h2.pre = s.buf
	return h2
}

// WithGroup returns a handler that nests later attributes under name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := h.clone()
	h2.pending = append(h2.pending, name)
	return h2
}

func (h *Handler) clone() *Handler {
	h2 := *h
	h2.pre = append([]byte(nil), h.pre...)
	h2.pending = append([]string(nil), h.pending...)
	return &h2
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Handle writes r as one JSON line.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]

	b = append(b, `{"@timestamp":"`...)
	b = appendTime(b, r.Time)
	b = append(b, `","@level":"`...)
	b = append(b, levelName(r.Level)...)
	b = append(b, `","@message":`...)
	b = appendString(b, r.Message)
	b = append(b, `,"service":`...)
	b = appendString(b, h.opts.Service)
	sc := trace.SpanContextFromContext(ctx)
	if sc.HasTraceID() {
		tid := sc.TraceID()
		b = append(b, `,"tracking_id":"`...)
		b = appendHex(b, tid[:])
		b = append(b, `","tracing":{"trace_id":"`...)
		b = appendHex(b, tid[:])
		b = append(b, '"')
		if sc.HasSpanID() {
			sid := sc.SpanID()
			b = append(b, `,"span_id":"`...)
			b = appendHex(b, sid[:])
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, h.pre...)

	s := encoder{buf: b, needComma: true}
	nOpen := h.nOpen
	if r.NumAttrs() > 0 {
		pending := h.pending
		s.openPending(&pending, &nOpen)
		r.Attrs(func(a slog.Attr) bool {
			s.attr(a)
			return true
		})
	}
	b = s.buf
	for range nOpen {
		b = append(b, '}')
	}
	b = append(b, '}', '\n')

	h.mu.Lock()
	_, err := h.out.Write(b)
	h.mu.Unlock()

	if r.Level >= slog.LevelError {
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			h.errorToSpan(span, r, sc.TraceID().String())
		}
	}

	*bp = b
	if cap(b) <= 64<<10 { // don't let one huge line pin memory in the pool
		bufPool.Put(bp)
	}
	return err
}

func levelName(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARN"
	case l >= slog.LevelInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}

// RedactedValue replaces the value of any field whose key names a secret.
const RedactedValue = "[REDACTED]"

// secretKeys are matched case-insensitively against whole keys, with '-' and
// '_' ignored, so "X-API-Key", "api_key" and "apiKey" all match "apikey".
var secretKeys = []string{"authorization", "apikey", "xapikey", "token", "accesstoken", "refreshtoken", "password", "secret", "cookie", "setcookie", "clientsecret"}

func isSecretKey(k string) bool {
	if len(k) < 5 || len(k) > 32 {
		return false
	}
	var tmp [32]byte
	n := 0
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c == '-' || c == '_' {
			continue
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		tmp[n] = c
		n++
	}
	norm := tmp[:n]
	for _, s := range secretKeys {
		if string(norm) == s {
			return true
		}
	}
	return false
}

// encoder writes attributes into buf.
type encoder struct {
	buf       []byte
	needComma bool
}

func (s *encoder) key(k string) {
	if s.needComma {
		s.buf = append(s.buf, ',')
	}
	s.buf = appendString(s.buf, k)
	s.buf = append(s.buf, ':')
	s.needComma = true
}

// openPending opens the groups named by WithGroup now that a field will be written.
func (s *encoder) openPending(pending *[]string, nOpen *int) {
	for _, g := range *pending {
		s.key(g)
		s.buf = append(s.buf, '{')
		s.needComma = false
		*nOpen++
	}
	*pending = nil
}

func (s *encoder) attr(a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		as := v.Group()
		if len(as) == 0 {
			return
		}
		if a.Key == "" { // slog: a group with an empty key is inlined
			for _, ga := range as {
				s.attr(ga)
			}
			return
		}
		s.key(a.Key)
		s.buf = append(s.buf, '{')
		s.needComma = false
		for _, ga := range as {
			s.attr(ga)
		}
		s.buf = append(s.buf, '}')
		s.needComma = true
		return
	}
	if a.Key == "" {
		return
	}
	s.key(a.Key)
	if isSecretKey(a.Key) {
		s.buf = appendString(s.buf, RedactedValue)
		return
	}
	if err, ok := v.Any().(error); ok && v.Kind() == slog.KindAny && a.Key == "error" {
		// slog.Any("error", err) becomes the design guide's error object.
		s.buf = append(s.buf, `{"type":`...)
		s.buf = appendString(s.buf, errorTypeName(err))
		s.buf = append(s.buf, `,"message":`...)
		s.buf = appendString(s.buf, err.Error())
		s.buf = append(s.buf, '}')
		return
	}
	s.value(v)
}

func (s *encoder) value(v slog.Value) {
	switch v.Kind() {
	case slog.KindString:
		s.buf = appendString(s.buf, v.String())
	case slog.KindInt64:
		s.buf = strconvAppendInt(s.buf, v.Int64())
	case slog.KindUint64:
		s.buf = strconvAppendUint(s.buf, v.Uint64())
	case slog.KindFloat64:
		s.buf = appendFloat(s.buf, v.Float64())
	case slog.KindBool:
		if v.Bool() {
			s.buf = append(s.buf, "true"...)
		} else {
			s.buf = append(s.buf, "false"...)
		}
	case slog.KindDuration:
		// Seconds, as the design guide's request.duration (0.245).
		s.buf = appendFloat(s.buf, v.Duration().Seconds())
	case slog.KindTime:
		s.buf = append(s.buf, '"')
		s.buf = appendTime(s.buf, v.Time())
		s.buf = append(s.buf, '"')
	default:
		s.buf = appendAny(s.buf, v.Any())
	}
}
