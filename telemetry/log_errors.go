package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ErrorLogEvent is the span event an ERROR record adds to its span.
const ErrorLogEvent = "error_log"

// errorHandler gives errors their shape on every output: an error value
// under "error" becomes the design guide's error{type,code,message,category}
// object; an ERROR record with an error gets exception{class,stack_trace,
// file,line}; and an ERROR record becomes an error_log event (and the error
// an exception) on the span in the context, so it shows on its trace in
// Jaeger whatever writes the line.
type errorHandler struct {
	next     slog.Handler
	service  string
	maxValue int
}

func (h errorHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }
func (h errorHandler) WithAttrs(as []slog.Attr) slog.Handler          { return scoped(h).WithAttrs(as) }
func (h errorHandler) WithGroup(name string) slog.Handler             { return scoped(h).WithGroup(name) }

func (h errorHandler) Handle(ctx context.Context, r slog.Record) error {
	isError := r.Level >= slog.LevelError
	// Most lines carry no error object: look first, copy only when needed.
	var found error
	hasException, objects := false, false
	r.Attrs(func(a slog.Attr) bool {
		hasException = hasException || a.Key == "exception"
		if _, err := errorObject(a); err != nil {
			objects = true
			if found == nil {
				found = err
			}
		}
		return true
	})
	if isError && found == nil {
		found = findError(r)
	}
	addException := isError && found != nil && !hasException
	if isError {
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			h.toSpan(span, r, found)
		}
	}
	if !objects && !addException {
		return h.next.Handle(ctx, r)
	}
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		na, _ := errorObject(a)
		nr.AddAttrs(na)
		return true
	})
	if addException {
		nr.AddAttrs(exceptionObject(found, r.PC, h.maxValue*4))
	}
	return h.next.Handle(ctx, nr)
}

// errorObject renders an error under the key "error" (or made by Error) as
// the error object and returns the error; other attributes pass unchanged.
func errorObject(a slog.Attr) (slog.Attr, error) {
	if a.Value.Kind() != slog.KindAny && a.Value.Kind() != slog.KindLogValuer {
		return a, nil
	}
	switch x := a.Value.Any().(type) {
	case errorAttr:
		return slog.Attr{Key: a.Key, Value: x.value()}, x.err
	case error:
		if a.Key != "error" {
			return a, nil
		}
		return slog.Group(a.Key, slog.String("type", errorTypeName(x)), slog.String("message", scrub(safeErrorText(x)))), x
	}
	return a, nil
}

// exceptionObject is exception{class,stack_trace,file,line} for err logged at pc.
func exceptionObject(err error, pc uintptr, maxStack int) slog.Attr {
	file, line := "", 0
	if pc != 0 {
		f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
		file, line = f.File, f.Line
	}
	return slog.Group("exception",
		slog.String("class", errorTypeName(err)),
		slog.String("stack_trace", truncate(stackTrace(), maxStack)),
		slog.String("file", file),
		slog.Int("line", line))
}

// toSpan adds the error_log event, and for an error value an exception
// event and an Error status, to the span.
func (h errorHandler) toSpan(span trace.Span, r slog.Record, err error) {
	fn, line := callSite(r.PC)
	errType := "UnknownError"
	if err != nil {
		errType = errorTypeName(err)
	}
	sc := span.SpanContext()
	span.AddEvent(ErrorLogEvent, trace.WithTimestamp(r.Time), trace.WithAttributes(
		attribute.String("log.level", levelName(r.Level)),
		attribute.String("log.message", r.Message),
		attribute.String("log.logger", h.service),
		attribute.String("log.function", fn),
		attribute.Int("log.line", line),
		AttrTrackingID.String(sc.TraceID().String()),
		attribute.String("error.type", errType),
	))
	if err != nil {
		// As span.RecordError would, with the message scrubbed of credentials.
		span.AddEvent(semconv.ExceptionEventName, trace.WithTimestamp(r.Time), trace.WithAttributes(
			semconv.ExceptionType(errType),
			semconv.ExceptionMessage(scrub(safeErrorText(err))),
			semconv.ExceptionStacktrace(stackTrace()),
		))
		span.SetStatus(codes.Error, r.Message)
	}
}

// findError returns the first error value among r's attributes, searching groups.
func findError(r slog.Record) error {
	var found error
	var walk func(a slog.Attr) bool
	walk = func(a slog.Attr) bool {
		switch x := a.Value.Any().(type) {
		case errorAttr:
			found = x.err
			return false
		case scrubbedError:
			found = x.err
			return false
		case error:
			if a.Value.Kind() == slog.KindAny {
				found = x
				return false
			}
		}
		if a.Value.Kind() == slog.KindGroup {
			for _, ga := range a.Value.Group() {
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
	f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	return f.Function, f.Line
}

// errorTypeName is the error's Go type without package path noise:
// "*fs.PathError", "*errors.errorString".
func errorTypeName(err error) string {
	if s, ok := err.(scrubbedError); ok {
		err = s.err
	}
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

// stackTrace formats the calling goroutine's stack, without the logging
// machinery's own frames, as "function\n\tfile:line" lines.
func stackTrace() string {
	var pcs [64]uintptr
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	var b strings.Builder
	for {
		f, more := frames.Next()
		if !loggingFrame(f.Function) {
			fmt.Fprintf(&b, "%s\n\t%s:%d\n", f.Function, f.File, f.Line)
		}
		if !more {
			break
		}
	}
	return b.String()
}

func loggingFrame(fn string) bool {
	return strings.HasPrefix(fn, "log/slog.") || strings.HasPrefix(fn, "runtime.") ||
		strings.HasPrefix(fn, "github.com/starmates-ai/ai-teams/telemetry.") && (strings.Contains(fn, "Handler") || strings.Contains(fn, "stackTrace"))
}

// levelName is the level without slog's offsets ("ERROR+2" is ERROR).
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
