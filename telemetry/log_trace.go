package telemetry

import (
	"context"
	"encoding/hex"
	"log/slog"
	"runtime"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/trace"
)

// traceHandler adds tracking_id and tracing{trace_id,span_id} from the span
// in the context; a line written outside any trace has neither.
type traceHandler struct{ next slog.Handler }

func (h traceHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }
func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler          { return scoped(h).WithAttrs(as) }
func (h traceHandler) WithGroup(name string) slog.Handler             { return scoped(h).WithGroup(name) }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return h.next.Handle(ctx, r)
	}
	// Both ids in one string: one allocation instead of two.
	var hexIDs [48]byte
	t, sp := sc.TraceID(), sc.SpanID()
	hex.Encode(hexIDs[:32], t[:])
	hex.Encode(hexIDs[32:], sp[:])
	ids := string(hexIDs[:])
	tid := ids[:32]
	tracing := slog.GroupValue(slog.String("trace_id", tid), slog.String("span_id", ids[32:]))
	if !sc.HasSpanID() {
		tracing = slog.GroupValue(slog.String("trace_id", tid))
	}
	r = r.Clone() // the caller's record may share its attributes' storage
	r.AddAttrs(slog.String("tracking_id", tid), slog.Attr{Key: "tracing", Value: tracing})
	return h.next.Handle(ctx, r)
}

// sourceHandler adds source{module,function,line}: the package, the
// function and the line of the log call.
type sourceHandler struct{ next slog.Handler }

func (h sourceHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }
func (h sourceHandler) WithAttrs(as []slog.Attr) slog.Handler          { return scoped(h).WithAttrs(as) }
func (h sourceHandler) WithGroup(name string) slog.Handler             { return scoped(h).WithGroup(name) }

func (h sourceHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.PC == 0 {
		return h.next.Handle(ctx, r)
	}
	r = r.Clone() // the caller's record may share its attributes' storage
	r.AddAttrs(sourceAttr(r.PC))
	return h.next.Handle(ctx, r)
}

// sourceCache holds each call site's source object: a service logs from a
// few hundred call sites, so after warm-up it is a map lookup.
var sourceCache sync.Map // uintptr → slog.Attr

func sourceAttr(pc uintptr) slog.Attr {
	if a, ok := sourceCache.Load(pc); ok {
		return a.(slog.Attr)
	}
	f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	module, function := splitFunction(f.Function)
	a := slog.Group("source", slog.String("module", module), slog.String("function", function), slog.Int("line", f.Line))
	sourceCache.Store(pc, a)
	return a
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
