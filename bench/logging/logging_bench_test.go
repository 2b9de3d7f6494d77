// Package logging compares our CloudWatch JSON handler with slog's
// JSONHandler, zap and zerolog on the case their authors publish: one line
// with a message and 10 attributes, written to io.Discard.
// Run: make bench (results go to bench/RESULTS.md).
package logging

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/starmates-ai/ai-teams/telemetry"
)

var (
	msg     = "POST /api/v1/workflows - 201"
	errTest = io.ErrUnexpectedEOF
	now     = time.Date(2026, 1, 31, 10, 30, 45, 0, time.UTC)
)

// The ten attributes of every benchmark: the usual mix of strings, ints, a
// float, a bool, a duration, a time and an error.
func slogAttrs() []slog.Attr {
	return []slog.Attr{
		slog.String("method", "POST"), slog.String("path", "/api/v1/workflows"), slog.Int("status", 201),
		slog.Int64("size", 2048), slog.Float64("ratio", 0.97), slog.Bool("cached", false),
		slog.Duration("duration", 245*time.Millisecond), slog.Time("started", now),
		slog.String("user_agent", "curl/8.0"), slog.Any("err", errTest),
	}
}

func traced() context.Context {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("1a2b3c4d5e6f7890")
	return trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
}

// BenchmarkHandlerOnly measures our handler's own code: Handle on a record
// built once (what "0 allocs in our handler" means).
func BenchmarkHandlerOnly(b *testing.B) {
	h := telemetry.NewHandler(io.Discard, telemetry.HandlerOptions{Service: "api-gateway", NoSource: true})
	r := slog.NewRecord(now, slog.LevelInfo, msg, 0)
	r.AddAttrs(slogAttrs()...)
	ctx := traced()
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Handle(ctx, r)
	}
}

// BenchmarkOurs is the full path a service uses: logger.LogAttrs → our
// handler, with the tracking id and tracing object from the context.
func BenchmarkOurs(b *testing.B) {
	l := slog.New(telemetry.NewHandler(io.Discard, telemetry.HandlerOptions{Service: "api-gateway", NoSource: true}))
	benchSlog(b, l, traced())
}

// BenchmarkOursWithSource adds source{module,function,line}, on by default.
func BenchmarkOursWithSource(b *testing.B) {
	l := slog.New(telemetry.NewHandler(io.Discard, telemetry.HandlerOptions{Service: "api-gateway"}))
	benchSlog(b, l, traced())
}

func BenchmarkSlogJSON(b *testing.B) {
	l := slog.New(slog.NewJSONHandler(io.Discard, nil))
	benchSlog(b, l, context.Background())
}

func benchSlog(b *testing.B, l *slog.Logger, ctx context.Context) {
	attrs := slogAttrs()
	b.ReportAllocs()
	for b.Loop() {
		l.LogAttrs(ctx, slog.LevelInfo, msg, attrs...)
	}
}

func BenchmarkZap(b *testing.B) {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	l := zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zapcore.InfoLevel))
	b.ReportAllocs()
	for b.Loop() {
		l.Info(msg,
			zap.String("method", "POST"), zap.String("path", "/api/v1/workflows"), zap.Int("status", 201),
			zap.Int64("size", 2048), zap.Float64("ratio", 0.97), zap.Bool("cached", false),
			zap.Duration("duration", 245*time.Millisecond), zap.Time("started", now),
			zap.String("user_agent", "curl/8.0"), zap.Error(errTest))
	}
}

func BenchmarkZerolog(b *testing.B) {
	l := zerolog.New(io.Discard).With().Timestamp().Logger()
	b.ReportAllocs()
	for b.Loop() {
		l.Info().
			Str("method", "POST").Str("path", "/api/v1/workflows").Int("status", 201).
			Int64("size", 2048).Float64("ratio", 0.97).Bool("cached", false).
			Dur("duration", 245*time.Millisecond).Time("started", now).
			Str("user_agent", "curl/8.0").Err(errTest).
			Msg(msg)
	}
}
