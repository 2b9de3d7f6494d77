package telemetry

import (
	"context"
	"log/slog"
)

// fieldsHandler keeps a line within what CloudWatch Logs Insights indexes:
// fewer than 1000 fields (leaves) — past FieldBudget only the design guide's
// essential objects are kept, the rest counted in dropped_fields — and
// top-level keys that are unique and never one the stack writes itself
// (a field named "service" or "tracking_id" becomes "_service", ...).
type fieldsHandler struct {
	next  slog.Handler
	names FieldNames
}

// fixedFields is room kept for what the handlers after this one add:
// timestamp, level, message, service, tracking_id, tracing (2), source (3).
const fixedFields = 10

func (h fieldsHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }
func (h fieldsHandler) WithAttrs(as []slog.Attr) slog.Handler          { return scoped(h).WithAttrs(as) }
func (h fieldsHandler) WithGroup(name string) slog.Handler             { return scoped(h).WithGroup(name) }

func (h fieldsHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.NumAttrs() == 0 {
		return h.next.Handle(ctx, r)
	}
	// The common line: few fields, no clash. Count without copying.
	leaves, clash := 0, false
	var seen [16]string
	nSeen := 0
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "" && a.Value.Kind() != slog.KindGroup {
			return true
		}
		leaves += countLeaves(a.Value)
		if h.reserved(a.Key) || a.Key == "" || nSeen == len(seen) {
			clash = true
			return true
		}
		for _, k := range seen[:nSeen] {
			if k == a.Key {
				clash = true
			}
		}
		seen[nSeen] = a.Key
		nSeen++
		return true
	})
	if !clash && leaves+fixedFields <= FieldBudget {
		return h.next.Handle(ctx, r)
	}

	b := budget{used: fixedFields}
	keys := map[string]bool{}
	var out []slog.Attr
	var add func(a slog.Attr)
	add = func(a slog.Attr) {
		if a.Key == "" && a.Value.Kind() == slog.KindGroup { // an inlined group: its fields are top-level
			for _, ga := range a.Value.Group() {
				add(ga)
			}
			return
		}
		if a.Key == "" {
			return
		}
		if h.reserved(a.Key) {
			a.Key = "_" + a.Key
		}
		if keys[a.Key] {
			b.dropped += countLeaves(a.Value)
			return
		}
		keys[a.Key] = true
		if kept, ok := b.keep(a, isEssentialKey(a.Key)); ok {
			out = append(out, kept)
		}
	}
	r.Attrs(func(a slog.Attr) bool { add(a); return true })
	if b.dropped > 0 {
		out = append(out, slog.Int(DroppedFieldsKey, b.dropped))
	}
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	nr.AddAttrs(out...)
	return h.next.Handle(ctx, nr)
}

// reserved: keys the stack writes at the top level of every line.
func (h fieldsHandler) reserved(k string) bool {
	t, l, m := h.names.Keys()
	switch k {
	case t, l, m, "service", "tracking_id", "tracing", "source", DroppedFieldsKey:
		return true
	}
	return false
}

// budget hands out room for leaves.
type budget struct{ used, dropped int }

// keep returns a with as many of its leaves as there is room for.
func (b *budget) keep(a slog.Attr, essential bool) (slog.Attr, bool) {
	if a.Value.Kind() != slog.KindGroup {
		if b.room(essential) {
			return a, true
		}
		b.dropped++
		return a, false
	}
	var kept []slog.Attr
	for _, ga := range a.Value.Group() {
		if k, ok := b.keep(ga, essential); ok {
			kept = append(kept, k)
		}
	}
	if len(kept) == 0 {
		return a, false
	}
	return slog.Attr{Key: a.Key, Value: slog.GroupValue(kept...)}, true
}

func (b *budget) room(essential bool) bool {
	if b.used < FieldBudget || (essential && b.used < MaxFields) {
		b.used++
		return true
	}
	return false
}

func countLeaves(v slog.Value) int {
	if v.Kind() != slog.KindGroup {
		return 1
	}
	n := 0
	for _, a := range v.Group() {
		n += countLeaves(a.Value)
	}
	return n
}

// isEssentialKey: the design guide's objects, kept even past FieldBudget.
func isEssentialKey(k string) bool {
	switch k {
	case "request", "response", "user", "session", "workflow", "operation", "error", "exception":
		return true
	}
	return false
}
