package telemetry

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/trace"
)

// Field limits. CloudWatch Logs Insights discovers at most 1000 fields per
// event; past that it silently drops the rest.
const (
	// FieldBudget is where the handler starts dropping non-essential fields.
	FieldBudget = 900
	// MaxFields is never reached: essential objects may use the room between
	// FieldBudget and MaxFields, nothing may go past it.
	MaxFields = 990
	// DefaultMaxValueBytes is where long strings are cut.
	DefaultMaxValueBytes = 8 << 10
	// TruncatedMarker ends a string that was cut.
	TruncatedMarker = "…[truncated]"
	// DroppedFieldsKey counts the fields a line left out to stay in budget.
	DroppedFieldsKey = "dropped_fields"
)

// HandlerOptions configures the CloudWatch-shaped JSON handler.
type HandlerOptions struct {
	// Service fills the required `service` field.
	Service string
	// Level is the minimum level written; nil means INFO.
	Level slog.Leveler
	// NoSource leaves out source{module,function,line}.
	NoSource bool
	// MaxValueBytes cuts longer strings (0: DefaultMaxValueBytes).
	// stack_trace values get four times as much.
	MaxValueBytes int
}

// Handler is a slog.Handler writing one JSON object per line in the shape
// CloudWatch Logs Insights queries expect:
//
//	{"@timestamp":"2026-01-31T10:30:45.123Z","@level":"INFO","@message":"...",
//	 "service":"api-gateway","tracking_id":"<32 hex>",
//	 "tracing":{"trace_id":"<32 hex>","span_id":"<16 hex>"},
//	 "source":{"module":"...","function":"...","line":42}, ...attrs}
//
// tracking_id and tracing come from the span in the context passed to the
// logger (use the *Context methods or LogAttrs); a line written outside any
// trace has neither. Groups nest as JSON objects, so slog.Group("request", …)
// becomes request.method etc. in Logs Insights.
//
// Lines are safe to ship: values of keys that name secrets are redacted at
// any depth, control characters are escaped (no forged lines), long strings
// are cut, and a line never carries MaxFields fields or more. An ERROR
// record also becomes an error_log event on the current span.
type Handler struct {
	out  io.Writer
	mu   *sync.Mutex
	opts HandlerOptions

	pre       []byte   // fields added by WithAttrs, encoded, each with a leading comma
	preFields int      // leaves in pre
	preKeys   []string // top-level keys in pre, for de-duplication
	nOpen     int      // groups opened inside pre, closed at the end of each line
	pending   []string // groups named by WithGroup that have no field yet
}

// NewHandler returns a Handler writing to out. Writes are serialised, one
// Write call per line.
func NewHandler(out io.Writer, opts HandlerOptions) *Handler {
	if opts.Level == nil {
		opts.Level = slog.LevelInfo
	}
	if opts.MaxValueBytes <= 0 {
		opts.MaxValueBytes = DefaultMaxValueBytes
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
	s := h2.newEncoder(h2.pre)
	s.fields = h2.preFields
	s.openPending(&h2.pending, &h2.nOpen)
	s.topLevel = h2.nOpen == 0
	for _, a := range as {
		s.attr(a, 0)
	}
	h2.pre, h2.preFields = s.buf, s.fields
	h2.preKeys = append(h2.preKeys, s.keys()...)
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
	h2.preKeys = append([]string(nil), h.preKeys...)
	return &h2
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// requiredFields is how many leaves the fixed part of a line can hold.
const requiredFields = 10

// Handle writes r as one JSON line.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]

	b = append(b, `{"@timestamp":"`...)
	b = appendRecordTime(b, r.Time)
	b = append(b, `","@level":"`...)
	b = append(b, levelName(r.Level)...)
	b = append(b, `","@message":`...)
	b = appendString(b, truncate(r.Message, h.opts.MaxValueBytes))
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
	if !h.opts.NoSource && r.PC != 0 {
		b = append(b, sourceJSON(r.PC)...)
	}
	b = append(b, h.pre...)

	s := h.newEncoder(b)
	s.fields = requiredFields + h.preFields
	s.seed(h.preKeys)
	nOpen := h.nOpen
	if r.NumAttrs() > 0 {
		pending := h.pending
		s.openPending(&pending, &nOpen)
		s.topLevel = nOpen == 0
		r.Attrs(func(a slog.Attr) bool {
			s.attr(a, 0)
			return true
		})
	}
	for range nOpen {
		s.buf = append(s.buf, '}')
	}
	s.needComma, s.topLevel = true, true

	var err error
	if r.Level >= slog.LevelError {
		err = findError(r)
		if err != nil && !s.seen("exception") {
			s.exception(err, r.PC)
		}
	}
	if s.dropped > 0 {
		s.key(DroppedFieldsKey)
		s.buf = strconvAppendInt(s.buf, int64(s.dropped))
	}
	b = append(s.buf, '}', '\n')

	h.mu.Lock()
	_, werr := h.out.Write(b)
	h.mu.Unlock()

	*bp = b
	if cap(b) <= 64<<10 { // don't let one huge line pin memory in the pool
		bufPool.Put(bp)
	}

	if r.Level >= slog.LevelError {
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			h.errorToSpan(span, r, err, sc.TraceID().String())
		}
	}
	return werr
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
// '_' ignored, so "X-API-Key", "api_key" and "apiKey" all match.
var secretKeys = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range []string{"authorization", "proxyauthorization", "apikey", "xapikey", "token", "accesstoken", "refreshtoken", "idtoken",
		"password", "passwd", "secret", "clientsecret", "cookie", "setcookie"} {
		m[k] = true
	}
	return m
}()

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
	return secretKeys[string(tmp[:n])] // no allocation: the compiler looks up without converting
}

// reservedKeys are written by the handler itself at the top level; an
// attribute with one of these keys is renamed with a leading underscore so
// a line never holds the same key twice.
func isReservedKey(k string) bool {
	switch k {
	case "@timestamp", "@level", "@message", "service", "tracking_id", "tracing", "source", DroppedFieldsKey:
		return true
	}
	return false
}

// essentialKeys are the design guide's objects: kept even past FieldBudget.
func isEssentialKey(k string) bool {
	switch k {
	case "request", "response", "user", "session", "workflow", "operation", "error", "exception":
		return true
	}
	return false
}

// truncate cuts s to at most max bytes on a rune boundary, marking the cut.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len(TruncatedMarker)
	if cut < 0 {
		cut = 0
	}
	for cut > 0 && !startsRune(s[cut]) {
		cut--
	}
	return s[:cut] + TruncatedMarker
}

func startsRune(b byte) bool { return b&0xC0 != 0x80 }

// encoder writes attributes into buf, counting fields.
type encoder struct {
	buf       []byte
	needComma bool
	maxValue  int
	topLevel  bool // depth 0 is the line's top level (no group open)
	essential bool // inside an essential top-level object
	fields    int
	dropped   int
	top       [24]string // top-level keys written, for de-duplication
	nTop      int
	moreTop   []string // beyond top's capacity (rare)
}

func (h *Handler) newEncoder(buf []byte) encoder {
	return encoder{buf: buf, needComma: true, maxValue: h.opts.MaxValueBytes}
}

func (s *encoder) seed(keys []string) {
	for _, k := range keys {
		s.remember(k)
	}
}

func (s *encoder) remember(k string) {
	if s.nTop < len(s.top) {
		s.top[s.nTop] = k
		s.nTop++
		return
	}
	s.moreTop = append(s.moreTop, k)
}

func (s *encoder) seen(k string) bool {
	for i := 0; i < s.nTop; i++ {
		if s.top[i] == k {
			return true
		}
	}
	for _, t := range s.moreTop {
		if t == k {
			return true
		}
	}
	return false
}

func (s *encoder) keys() []string {
	return append(append([]string(nil), s.top[:s.nTop]...), s.moreTop...)
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

// room reports whether one more leaf fits, counting it.
func (s *encoder) room() bool {
	if s.fields < FieldBudget || (s.essential && s.fields < MaxFields) {
		s.fields++
		return true
	}
	s.dropped++
	return false
}

// topKey applies the top-level rules to k: reserved keys are renamed and a
// key already written is reported as a duplicate (dropped).
func (s *encoder) topKey(k string) (string, bool) {
	if isReservedKey(k) {
		k = "_" + k
	}
	if s.seen(k) {
		s.dropped++
		return k, false
	}
	s.remember(k)
	return k, true
}

func (s *encoder) attr(a slog.Attr, depth int) {
	if a.Value.Kind() == slog.KindLogValuer { // Any() on other kinds would allocate
		if ea, ok := a.Value.Any().(errorAttr); ok {
			a.Value = ea.LogValue()
		}
	}
	v := a.Value.Resolve()
	top := s.topLevel && depth == 0
	if v.Kind() == slog.KindGroup {
		as := v.Group()
		if len(as) == 0 {
			return
		}
		if a.Key == "" { // slog: a group with an empty key is inlined
			for _, ga := range as {
				s.attr(ga, depth)
			}
			return
		}
		key := a.Key
		if top {
			var ok bool
			if key, ok = s.topKey(key); !ok {
				return
			}
			s.essential = isEssentialKey(key)
		}
		s.key(key)
		s.buf = append(s.buf, '{')
		s.needComma = false
		for _, ga := range as {
			s.attr(ga, depth+1)
		}
		s.buf = append(s.buf, '}')
		s.needComma = true
		if top {
			s.essential = false
		}
		return
	}
	if a.Key == "" {
		return
	}
	key := a.Key
	if top {
		var ok bool
		if key, ok = s.topKey(key); !ok {
			return
		}
		s.essential = key == "error"
		defer func() { s.essential = false }()
	}
	if !s.room() {
		return
	}
	s.key(key)
	if isSecretKey(key) {
		s.buf = appendString(s.buf, RedactedValue)
		return
	}
	if v.Kind() != slog.KindAny {
		s.value(v, s.maxFor(key))
		return
	}
	if err, ok := v.Any().(error); ok && key == "error" {
		// slog.Any("error", err) becomes the design guide's error object.
		s.buf = append(s.buf, `{"type":`...)
		s.buf = appendString(s.buf, errorTypeName(err))
		s.buf = append(s.buf, `,"message":`...)
		s.buf = appendString(s.buf, truncate(err.Error(), s.maxValue))
		s.buf = append(s.buf, '}')
		s.fields++
		return
	}
	s.value(v, s.maxFor(key))
}

func (s *encoder) maxFor(key string) int {
	if key == "stack_trace" {
		return s.maxValue * 4
	}
	return s.maxValue
}

func (s *encoder) value(v slog.Value, max int) {
	switch v.Kind() {
	case slog.KindString:
		s.buf = appendString(s.buf, truncate(v.String(), max))
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
		s.buf = appendAny(s.buf, v.Any(), max)
	}
}

// exception writes exception{class,stack_trace,file,line} for err at the top level.
func (s *encoder) exception(err error, pc uintptr) {
	s.remember("exception")
	file, line := "", 0
	if pc != 0 {
		f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
		file, line = f.File, f.Line
	}
	s.key("exception")
	s.buf = append(s.buf, `{"class":`...)
	s.buf = appendString(s.buf, errorTypeName(err))
	s.buf = append(s.buf, `,"stack_trace":`...)
	s.buf = appendString(s.buf, truncate(stackTrace(), s.maxValue*4))
	s.buf = append(s.buf, `,"file":`...)
	s.buf = appendString(s.buf, file)
	s.buf = append(s.buf, `,"line":`...)
	s.buf = strconvAppendInt(s.buf, int64(line))
	s.buf = append(s.buf, '}')
}

// stackTrace formats the calling goroutine's stack, without the logging
// machinery's own frames, as "function\n\tfile:line" lines.
func stackTrace() string {
	var pcs [64]uintptr
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	var b strings.Builder
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "log/slog.") && !strings.HasPrefix(f.Function, "github.com/starmates-ai/ai-teams/telemetry.(*Handler)") &&
			!strings.HasPrefix(f.Function, "github.com/starmates-ai/ai-teams/telemetry.(*encoder)") && !strings.HasPrefix(f.Function, "runtime.") {
			b.WriteString(f.Function)
			b.WriteString("\n\t")
			b.WriteString(f.File)
			b.WriteByte(':')
			b.WriteString(itoa(f.Line))
			b.WriteByte('\n')
		}
		if !more {
			break
		}
	}
	return b.String()
}

func itoa(n int) string { return string(strconvAppendInt(nil, int64(n))) }

// sourceCache holds the encoded ,"source":{...} of each call site: a line
// logs from a handful of call sites, so after warm-up source costs a map
// lookup and no allocation.
var sourceCache = struct {
	sync.RWMutex
	m map[uintptr][]byte
}{m: map[uintptr][]byte{}}

func sourceJSON(pc uintptr) []byte {
	sourceCache.RLock()
	b, ok := sourceCache.m[pc]
	sourceCache.RUnlock()
	if ok {
		return b
	}
	f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	module, function := splitFunction(f.Function)
	b = append(b, `,"source":{"module":`...)
	b = appendString(b, module)
	b = append(b, `,"function":`...)
	b = appendString(b, function)
	b = append(b, `,"line":`...)
	b = strconvAppendInt(b, int64(f.Line))
	b = append(b, '}')
	sourceCache.Lock()
	if len(sourceCache.m) < 10000 { // bounded: call sites, not values
		sourceCache.m[pc] = b
	}
	sourceCache.Unlock()
	return b
}

// splitFunction splits "github.com/x/y/pkg.(*T).M" into the package path
// "github.com/x/y/pkg" and "(*T).M".
func splitFunction(full string) (module, function string) {
	slash := strings.LastIndexByte(full, '/')
	dot := strings.IndexByte(full[slash+1:], '.')
	if dot < 0 {
		return full, ""
	}
	return full[:slash+1+dot], full[slash+2+dot:]
}
