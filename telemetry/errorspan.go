package telemetry

import (
	"fmt"
	"log/slog"
	"runtime"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// ErrorLogEvent is the span event an ERROR record adds to its span.
const ErrorLogEvent = "error_log"

// errorToSpan puts an ERROR record on the recording span in ctx: an
// error_log event with the record's level, message and call site, and, when
// the record carries an error value, an exception (with stack trace) and an
// Error status. This is how an ERROR log shows up on its trace in Jaeger.
func (h *Handler) errorToSpan(span trace.Span, r slog.Record, err error, trackingID string) {
	fn, line := callSite(r.PC)
	errType := "UnknownError"
	if err != nil {
		errType = errorTypeName(err)
	}
	span.AddEvent(ErrorLogEvent, trace.WithTimestamp(r.Time), trace.WithAttributes(
		attribute.String("log.level", levelName(r.Level)),
		attribute.String("log.message", r.Message),
		attribute.String("log.logger", h.opts.Service),
		attribute.String("log.function", fn),
		attribute.Int("log.line", line),
		AttrTrackingID.String(trackingID),
		attribute.String("error.type", errType),
	))
	if err != nil {
		span.RecordError(err, trace.WithStackTrace(true), trace.WithTimestamp(r.Time))
		span.SetStatus(codes.Error, r.Message)
	}
}

// findError returns the first error value among r's attributes, searching groups.
func findError(r slog.Record) error {
	var found error
	var walk func(a slog.Attr) bool
	walk = func(a slog.Attr) bool {
		if a.Value.Kind() == slog.KindLogValuer {
			if ea, ok := a.Value.Any().(errorAttr); ok {
				found = ea.err
				return false
			}
		}
		v := a.Value.Resolve()
		switch v.Kind() {
		case slog.KindAny:
			if err, ok := v.Any().(error); ok {
				found = err
				return false
			}
		case slog.KindGroup:
			for _, ga := range v.Group() {
				if !walk(ga) {
					return false
				}
			}
		}
		return true
	}
	r.Attrs(walk)
	return found
}

func callSite(pc uintptr) (function string, line int) {
	if pc == 0 {
		return "", 0
	}
	frames := runtime.CallersFrames([]uintptr{pc})
	f, _ := frames.Next()
	return f.Function, f.Line
}

// errorTypeName is the error's Go type without package path noise:
// "*fs.PathError", "*errors.errorString".
func errorTypeName(err error) string {
	t := fmt.Sprintf("%T", err)
	if i := strings.LastIndexByte(t, '/'); i >= 0 {
		star := strings.HasPrefix(t, "*")
		t = t[i+1:]
		if star {
			t = "*" + t
		}
	}
	return t
}
