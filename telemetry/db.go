package telemetry

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// DBCall describes one database operation for its client span.
type DBCall struct {
	System     string // semconv db.system.name: "sqlite", "postgresql"
	Operation  string // "INSERT", "SELECT", ...
	Collection string // table name
	Query      string // parameterised statement text (never with values)
}

// StartDBSpan starts a client span named "OPERATION table" and returns the
// function that ends it with err's status. Store code wraps each statement:
//
//	ctx, end := telemetry.StartDBSpan(ctx, call)
//	_, err := db.ExecContext(ctx, call.Query, args...)
//	end(err)
func StartDBSpan(ctx context.Context, call DBCall) (context.Context, func(error)) {
	tracer := otel.GetTracerProvider().Tracer(ScopeName)
	if s := trace.SpanFromContext(ctx); s.SpanContext().IsValid() {
		tracer = s.TracerProvider().Tracer(ScopeName)
	}
	ctx, span := tracer.Start(ctx, call.Operation+" "+call.Collection,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String(string(semconv.DBSystemNameKey), call.System),
			semconv.DBOperationName(call.Operation),
			semconv.DBCollectionName(call.Collection),
			semconv.DBQueryText(call.Query),
		))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}
