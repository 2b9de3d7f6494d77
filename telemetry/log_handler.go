package telemetry

import (
	"context"
	"io"
	"log/slog"
)

// Field limits. CloudWatch Logs Insights discovers at most 1000 fields per
// event; past that it silently drops the rest.
const (
	// FieldBudget is where a line starts dropping non-essential fields.
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

// FieldNames chooses the keys of a line's time, level and message.
type FieldNames int

const (
	// PlainFieldNames writes timestamp, level and message, the names AWS's own
	// structured logging (Powertools) uses. CloudWatch Logs Insights discovers
	// them as they are: filter level = "ERROR".
	PlainFieldNames FieldNames = iota
	// AtFieldNames writes the design guide's @timestamp, @level and @message.
	// Logs Insights keeps @timestamp and @message for its own system fields
	// (the event's time and the raw line) and shows a logged @level as
	// @@level: filter @@level = "ERROR". See docs/cloudwatch.md.
	AtFieldNames
)

// Keys returns the time, level and message keys of the style.
func (f FieldNames) Keys() (time, level, message string) {
	if f == AtFieldNames {
		return "@timestamp", "@level", "@message"
	}
	return "timestamp", "level", "message"
}

// HandlerOptions configures the logging stack NewHandler builds.
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
	// FieldNames chooses timestamp/level/message or the @ names.
	FieldNames FieldNames
	// Also receives every record after redaction and error handling, beside
	// the JSON lines: Setup passes the OpenTelemetry log bridge. Nil: none.
	Also slog.Handler
}

// NewHandler returns the logging stack: small handlers that each do one job,
// each wrapping the next.
//
//	scope     applies the logger's WithAttrs/WithGroup, so later handlers see whole records
//	redact    secrets out, at any depth, by key and by the look of the value
//	errors    error{} objects, exception{} on ERROR, and ERROR → error_log span event
//	  ├─ fields     at most MaxFields per line, essentials kept, dropped_fields; unique top-level keys
//	  │  source     source{module,function,line}
//	  │  trace      tracking_id and tracing{trace_id,span_id} from the span in the context
//	  │  encoder    one JSON line: key names, UTC milliseconds, seconds for durations, cut strings
//	  └─ Also (the OTLP bridge), when set
//
// A line:
//
//	{"timestamp":"2026-01-31T10:30:45.123Z","level":"INFO","message":"...",
//	 "service":"api-gateway","tracking_id":"<32 hex>",
//	 "tracing":{"trace_id":"<32 hex>","span_id":"<16 hex>"},
//	 "source":{"module":"...","function":"...","line":42}, ...attrs}
//
// Groups nest as JSON objects, so slog.Group("request", …) is request.method
// in Logs Insights. A log call never panics, whatever the values.
func NewHandler(out io.Writer, opts HandlerOptions) slog.Handler {
	if opts.Level == nil {
		opts.Level = slog.LevelInfo
	}
	if opts.MaxValueBytes <= 0 {
		opts.MaxValueBytes = DefaultMaxValueBytes
	}
	// Each of source and trace adds its fields after the record's.
	var lines slog.Handler = traceHandler{newEncoderOutput(out, opts)}
	if !opts.NoSource {
		lines = sourceHandler{lines}
	}
	lines = fieldsHandler{lines, opts.FieldNames}
	var sinks slog.Handler = lines
	if opts.Also != nil {
		sinks = slog.NewMultiHandler(lines, opts.Also)
	}
	return &scopeHandler{next: redactHandler{errorHandler{next: sinks, service: opts.Service, maxValue: opts.MaxValueBytes}}}
}

// scopeHandler applies the logger's WithAttrs and WithGroup itself: the
// handlers after it see every field of a line in one record, each at its
// place in the groups, and can add fields at the top level.
type scopeHandler struct {
	next slog.Handler
	ops  []scopeOp
}

type scopeOp struct {
	group string      // WithGroup, or
	attrs []slog.Attr // WithAttrs
}

// scoped puts a scopeHandler in front of h: the handlers of the stack leave
// WithAttrs and WithGroup to it, so each sees whole records.
func scoped(h slog.Handler) *scopeHandler { return &scopeHandler{next: h} }

func (h *scopeHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *scopeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	return &scopeHandler{next: h.next, ops: append(h.ops[:len(h.ops):len(h.ops)], scopeOp{attrs: as})}
}

func (h *scopeHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &scopeHandler{next: h.next, ops: append(h.ops[:len(h.ops):len(h.ops)], scopeOp{group: name})}
}

func (h *scopeHandler) Handle(ctx context.Context, r slog.Record) error {
	if len(h.ops) == 0 {
		return h.next.Handle(ctx, r)
	}
	attrs := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
	for i := len(h.ops) - 1; i >= 0; i-- {
		op := h.ops[i]
		if op.group != "" {
			if len(attrs) > 0 {
				attrs = []slog.Attr{{Key: op.group, Value: slog.GroupValue(attrs...)}}
			}
			continue
		}
		attrs = append(op.attrs[:len(op.attrs):len(op.attrs)], attrs...)
	}
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	nr.AddAttrs(attrs...)
	return h.next.Handle(ctx, nr)
}
