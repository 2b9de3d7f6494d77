package telemetry

import (
	"log/slog"
	"time"
)

// Typed helpers for the design guide's nested log objects. Service code
// builds log lines from these instead of scattered string keys, so every
// service writes request.method, user.id, workflow.status, ... the same way
// and CloudWatch Logs Insights queries work across services.

// User is the user{id,segment} object. Segment may be empty.
func User(id, segment string) slog.Attr {
	if segment == "" {
		return slog.Group("user", slog.String("id", id))
	}
	return slog.Group("user", slog.String("id", id), slog.String("segment", segment))
}

// Session is the session{id} object.
func Session(id string) slog.Attr { return slog.Group("session", slog.String("id", id)) }

// SessionWithDuration is session{id,duration} (seconds).
func SessionWithDuration(id string, d time.Duration) slog.Attr {
	return slog.Group("session", slog.String("id", id), slog.Duration("duration", d))
}

// Workflow is the workflow{id,type,status} object (type: simple, complex,
// ai-assisted; status: planned, running, completed, partial, failed).
func Workflow(id, typ, status string) slog.Attr {
	return slog.Group("workflow", slog.String("id", id), slog.String("type", typ), slog.String("status", status))
}

// Operation is the operation{name,result,duration} object (result: success,
// failure, partial). A zero duration is left out.
func Operation(name, result string, d time.Duration) slog.Attr {
	if d == 0 {
		return slog.Group("operation", slog.String("name", name), slog.String("result", result))
	}
	return slog.Group("operation", slog.String("name", name), slog.String("result", result), slog.Duration("duration", d))
}

// Error categories of the error{category} field.
const (
	CategoryClient  = "client"
	CategoryServer  = "server"
	CategoryNetwork = "network"
	CategoryTimeout = "timeout"
)

// Error is the error{type,code,message,category} object for err. Logged at
// ERROR, it also puts err on the span as an exception and adds the
// exception{class,stack_trace,file,line} object to the line.
func Error(err error, code, category string) slog.Attr {
	return slog.Any("error", errorAttr{err: err, code: code, category: category})
}

// errorAttr keeps the error value reachable for the handler (exception,
// span event) while rendering as the error object anywhere else.
type errorAttr struct {
	err            error
	code, category string
}

// LogValue renders the error object wherever errorHandler is not in the
// chain (another slog handler, a test).
func (e errorAttr) LogValue() slog.Value { return e.value() }

func (e errorAttr) value() slog.Value {
	attrs := []slog.Attr{slog.String("type", errorTypeName(e.err))}
	if e.code != "" {
		attrs = append(attrs, slog.String("code", e.code))
	}
	attrs = append(attrs, slog.String("message", scrub(safeErrorText(e.err))))
	if e.category != "" {
		attrs = append(attrs, slog.String("category", e.category))
	}
	return slog.GroupValue(attrs...)
}
