package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// HeaderTrackingID is the response header that carries the tracking id.
const HeaderTrackingID = "X-Tracking-ID"

// AttrTrackingID is the span attribute that repeats the tracking id, so a
// search by attribute finds the request even where trace ids are not indexed.
const AttrTrackingID = attribute.Key("tracking.id")

// TrackingID returns the request's tracking id: the trace id of the span in
// ctx as 32 lowercase hex digits, or "" when ctx carries no valid trace.
// The tracking id is the trace id by design, so there is nothing else to
// store or propagate: W3C traceparent carries it across services.
func TrackingID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}

// appendHex appends the 32/16 hex digits of an id without allocating.
func appendHex(dst []byte, id []byte) []byte {
	const digits = "0123456789abcdef"
	for _, b := range id {
		dst = append(dst, digits[b>>4], digits[b&0x0f])
	}
	return dst
}
