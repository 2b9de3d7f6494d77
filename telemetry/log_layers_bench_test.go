package telemetry

import (
	"context"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"
)

// BenchmarkLogLayers adds the stack's handlers one at a time over the JSON
// output, to show what each costs per line (bench/RESULTS.md).
func BenchmarkLogLayers(b *testing.B) {
	opts := HandlerOptions{Service: "api-gateway", Level: slog.LevelInfo, MaxValueBytes: DefaultMaxValueBytes}
	now := time.Date(2026, 1, 31, 10, 30, 45, 0, time.UTC)
	attrs := []slog.Attr{
		slog.String("method", "POST"), slog.String("path", "/api/v1/workflows"), slog.Int("status", 201),
		slog.Int64("size", 2048), slog.Float64("ratio", 0.97), slog.Bool("cached", false),
		slog.Duration("duration", 245*time.Millisecond), slog.Time("started", now),
		slog.String("user_agent", "curl/8.0"), slog.Any("err", io.ErrUnexpectedEOF),
	}
	out := newJSONOutput(io.Discard, opts)
	enc := newEncoderOutput(io.Discard, opts)
	layers := []struct {
		name string
		h    slog.Handler
	}{
		{"slogJSON", slog.NewJSONHandler(io.Discard, nil)},
		{"output", out},
		{"+trace", traceHandler{out}},
		{"+fields", fieldsHandler{traceHandler{out}, PlainFieldNames}},
		{"+errors", errorHandler{next: fieldsHandler{traceHandler{out}, PlainFieldNames}, maxValue: DefaultMaxValueBytes}},
		{"+redact", redactHandler{errorHandler{next: fieldsHandler{traceHandler{out}, PlainFieldNames}, maxValue: DefaultMaxValueBytes}}},
		{"+scope", &scopeHandler{next: redactHandler{errorHandler{next: fieldsHandler{traceHandler{out}, PlainFieldNames}, maxValue: DefaultMaxValueBytes}}}},
		{"encoder", enc},
		{"encoder+all", &scopeHandler{next: redactHandler{errorHandler{next: fieldsHandler{traceHandler{enc}, PlainFieldNames}, maxValue: DefaultMaxValueBytes}}}},
	}
	ctx := spanCtxB()
	for _, l := range layers {
		b.Run(l.name, func(b *testing.B) {
			logger := slog.New(l.h)
			b.ReportAllocs()
			for b.Loop() {
				logger.LogAttrs(ctx, slog.LevelInfo, "POST /api/v1/workflows - 201", attrs...)
			}
		})
	}
}

func spanCtxB() context.Context {
	var t testing.T
	return spanCtx(&t)
}

// The output measured against the encoder (bench/RESULTS.md): slog.JSONHandler
// with ReplaceAttr shaping the same line.
// newJSONOutput is slog's JSONHandler with the line's shape: the time,
// level and message keys of opts.FieldNames, the service field, times as UTC
// RFC 3339 with milliseconds, durations in seconds (request.duration 0.245),
// NaN and infinities as strings, and long strings cut. Zero times are left
// out, as slog does.
func newJSONOutput(out io.Writer, opts HandlerOptions) slog.Handler {
	timeKey, levelKey, msgKey := opts.FieldNames.Keys()
	maxValue := opts.MaxValueBytes
	h := slog.NewJSONHandler(out, &slog.HandlerOptions{
		Level: opts.Level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 {
				switch a.Key {
				case slog.TimeKey:
					if a.Value.Kind() != slog.KindTime || a.Value.Time().IsZero() {
						return slog.Attr{}
					}
					return slog.String(timeKey, formatTime(a.Value.Time()))
				case slog.LevelKey:
					if l, ok := a.Value.Any().(slog.Level); ok {
						return slog.String(levelKey, levelName(l))
					}
					return slog.Attr{Key: levelKey, Value: a.Value}
				case slog.MessageKey:
					return slog.String(msgKey, truncate(a.Value.String(), maxValue))
				}
			}
			return outputValue(a, maxValue)
		},
	})
	return h.WithAttrs([]slog.Attr{slog.String("service", opts.Service)})
}

// outputValue writes each kind the way the lines promise.
func outputValue(a slog.Attr, maxValue int) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		limit := maxValue
		if a.Key == "stack_trace" {
			limit *= 4
		}
		if s := a.Value.String(); len(s) > limit {
			return slog.String(a.Key, truncate(s, limit))
		}
	case slog.KindFloat64:
		switch f := a.Value.Float64(); {
		case math.IsNaN(f):
			return slog.String(a.Key, "NaN")
		case math.IsInf(f, 1):
			return slog.String(a.Key, "+Inf")
		case math.IsInf(f, -1):
			return slog.String(a.Key, "-Inf")
		}
	case slog.KindDuration:
		return slog.Float64(a.Key, a.Value.Duration().Seconds())
	case slog.KindTime:
		return slog.String(a.Key, formatTime(a.Value.Time()))
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			return slog.String(a.Key, truncate(scrub(safeErrorText(err)), maxValue))
		}
	}
	return a
}
