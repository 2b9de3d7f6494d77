package telemetry

import (
	"context"
	"reflect"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// withRandomFlag wraps tp so that every trace it starts (a span without a
// valid parent, or one started with trace.WithNewRoot) carries the W3C
// Level 2 random flag: the SDK generates trace ids from a random source
// but never sets the flag. The SDK gives a new span its parent's flags, so
// a root started under an invalid span context holding only the flag gets
// it, and every descendant inherits it; a remote parent's flags, random or
// not, pass on the same way.
//
// The flag promises random trace ids, so only the SDK's provider is
// wrapped, whose default generator draws them at random (this package never
// sets another); any other provider is returned as it is.
func withRandomFlag(tp trace.TracerProvider) trace.TracerProvider {
	if sdk, ok := tp.(*sdktrace.TracerProvider); ok {
		return randomFlagProvider{sdk}
	}
	return tp
}

type randomFlagProvider struct{ trace.TracerProvider }

func (p randomFlagProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return randomFlagTracer{p.TracerProvider.Tracer(name, opts...)}
}

type randomFlagTracer struct{ trace.Tracer }

// randomRoot is the parent a root span is started under: no ids, only the
// random flag, so the SDK generates the ids and keeps the flag.
var randomRoot = trace.SpanFromContext(trace.ContextWithSpanContext(context.Background(),
	trace.SpanContext{}.WithTraceFlags(trace.FlagsRandom)))

func (t randomFlagTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	parent := trace.SpanContextFromContext(ctx)
	if parent.IsValid() && !parent.IsRemote() {
		// A child of a local span: the common case, left alone (a new root
		// asked for under a local parent goes without the flag).
		return t.Tracer.Start(ctx, name, opts...)
	}
	if newRoot(opts) {
		// WithNewRoot would make the SDK drop randomRoot too: the same
		// options without it, under randomRoot, start the same root.
		cfg := trace.NewSpanStartConfig(opts...)
		opts = []trace.SpanStartOption{trace.WithAttributes(cfg.Attributes()...), trace.WithLinks(cfg.Links()...), trace.WithSpanKind(cfg.SpanKind())}
		if ts := cfg.Timestamp(); !ts.IsZero() {
			opts = append(opts, trace.WithTimestamp(ts))
		}
	} else if parent.IsValid() {
		return t.Tracer.Start(ctx, name, opts...)
	}
	return t.Tracer.Start(trace.ContextWithSpan(ctx, randomRoot), name, opts...)
}

// newRoot reports whether opts hold trace.WithNewRoot. Attribute options
// (slices) are skipped unapplied: applying one copies its attributes, on
// every server span.
func newRoot(opts []trace.SpanStartOption) bool {
	for _, o := range opts {
		if reflect.TypeOf(o).Kind() == reflect.Slice {
			continue
		}
		if cfg := trace.NewSpanStartConfig(o); cfg.NewRoot() {
			return true
		}
	}
	return false
}
