package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

const (
	specTraceID = "12345678901234567890123456789012"
	specSpanID  = "1234567890123456"
	specParent  = "00-" + specTraceID + "-" + specSpanID + "-01"
)

var outgoingParent = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$`)

// field is one header field as sent: a name may repeat.
type field struct{ name, value string }

func parentWithFlags(flags string) string {
	return "00-" + specTraceID + "-" + specSpanID + "-" + flags
}

// members returns n tracestate members "bar01=01" … from first on.
func members(first, n int) string {
	var ms []string
	for i := first; i < first+n; i++ {
		d := string(rune('0'+i/10)) + string(rune('0'+i%10))
		ms = append(ms, "bar"+d+"="+d)
	}
	return strings.Join(ms, ",")
}

var allValueChars = func() string {
	var b strings.Builder
	for c := byte(0x20); c <= 0x7e; c++ {
		if c != ',' && c != '=' {
			b.WriteByte(c)
		}
	}
	return b.String()
}()

// extractCases are what a server receives and what it must make of it:
// continued with the trace id, flags and tracestate, or a fresh trace.
var extractCases = []struct {
	name      string
	fields    []field
	continued bool
	flags     trace.TraceFlags
	state     string
}{
	// traceparent
	{"no headers", nil, false, 0, ""},
	{"valid", []field{{"traceparent", specParent}}, true, trace.FlagsSampled, ""},
	{"header name in any case", []field{{"TrAcEpArEnT", specParent}}, true, trace.FlagsSampled, ""},
	{"wrong header name", []field{{"trace-parent", specParent}}, false, 0, ""},
	{"two traceparent fields", []field{{"traceparent", parentWithFlags("01")}, {"traceparent", "00-" + specTraceID + "-6543210987654321-01"}}, false, 0, ""},
	{"two identical traceparent fields", []field{{"traceparent", specParent}, {"traceparent", specParent}}, false, 0, ""},
	{"leading and trailing OWS", []field{{"traceparent", "\t " + specParent + " \t"}}, true, trace.FlagsSampled, ""},
	{"version 00, trailing character", []field{{"traceparent", specParent + "."}}, false, 0, ""},
	{"version 00, trailing dash", []field{{"traceparent", specParent + "-"}}, false, 0, ""},
	{"version 00, future fields", []field{{"traceparent", specParent + "-what-the-future-will-be-like"}}, false, 0, ""},
	{"version cc", []field{{"traceparent", "cc-" + specTraceID + "-" + specSpanID + "-01"}}, true, trace.FlagsSampled, ""},
	{"version cc, future fields", []field{{"traceparent", "cc-" + specTraceID + "-" + specSpanID + "-01-what-the-future-will-be-like"}}, true, trace.FlagsSampled, ""},
	{"version cc, no dash after flags", []field{{"traceparent", "cc-" + specTraceID + "-" + specSpanID + "-01.what-the-future-will-be-like"}}, false, 0, ""},
	{"version cc, unknown flags", []field{{"traceparent", "cc-" + specTraceID + "-" + specSpanID + "-ff-x"}}, true, trace.FlagsSampled | trace.FlagsRandom, ""},
	{"version ff", []field{{"traceparent", "ff-" + specTraceID + "-" + specSpanID + "-01"}}, false, 0, ""},
	{"version illegal character", []field{{"traceparent", ".0-" + specTraceID + "-" + specSpanID + "-01"}}, false, 0, ""},
	{"version upper case", []field{{"traceparent", "0A-" + specTraceID + "-" + specSpanID + "-01"}}, false, 0, ""},
	{"version too long", []field{{"traceparent", "000-" + specTraceID + "-" + specSpanID + "-01"}}, false, 0, ""},
	{"version too short", []field{{"traceparent", "0-" + specTraceID + "-" + specSpanID + "-01"}}, false, 0, ""},
	{"trace id all zero", []field{{"traceparent", "00-00000000000000000000000000000000-" + specSpanID + "-01"}}, false, 0, ""},
	{"trace id upper case", []field{{"traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-" + specSpanID + "-01"}}, false, 0, ""},
	{"trace id illegal character", []field{{"traceparent", "00-.2345678901234567890123456789012-" + specSpanID + "-01"}}, false, 0, ""},
	{"trace id too long", []field{{"traceparent", "00-123456789012345678901234567890123-" + specSpanID + "-01"}}, false, 0, ""},
	{"trace id too short", []field{{"traceparent", "00-1234567890123456789012345678901-" + specSpanID + "-01"}}, false, 0, ""},
	{"parent id all zero", []field{{"traceparent", "00-" + specTraceID + "-0000000000000000-01"}}, false, 0, ""},
	{"parent id illegal character", []field{{"traceparent", "00-" + specTraceID + "-123456789012345.-01"}}, false, 0, ""},
	{"parent id too long", []field{{"traceparent", "00-" + specTraceID + "-12345678901234567-01"}}, false, 0, ""},
	{"parent id too short", []field{{"traceparent", "00-" + specTraceID + "-123456789012345-01"}}, false, 0, ""},
	{"flags illegal character", []field{{"traceparent", parentWithFlags(".0")}}, false, 0, ""},
	{"flags too long", []field{{"traceparent", parentWithFlags("001")}}, false, 0, ""},
	{"flags too short", []field{{"traceparent", "00-" + specTraceID + "-" + specSpanID + "-1"}}, false, 0, ""},
	{"flags not sampled", []field{{"traceparent", parentWithFlags("00")}}, true, 0, ""},
	{"flags random", []field{{"traceparent", parentWithFlags("02")}}, true, trace.FlagsRandom, ""},
	{"flags sampled and random", []field{{"traceparent", parentWithFlags("03")}}, true, trace.FlagsSampled | trace.FlagsRandom, ""},
	{"unknown flag bits ignored", []field{{"traceparent", parentWithFlags("09")}}, true, trace.FlagsSampled, ""},
	{"tracestate without traceparent", []field{{"tracestate", "foo=1"}}, false, 0, ""},

	// tracestate: combining fields
	{"tracestate kept", []field{{"traceparent", specParent}, {"tracestate", "foo=1,bar=2"}}, true, trace.FlagsSampled, "foo=1,bar=2"},
	{"tracestate header name in any case", []field{{"traceparent", specParent}, {"TRACESTATE", "foo=1"}}, true, trace.FlagsSampled, "foo=1"},
	{"wrong tracestate header name", []field{{"traceparent", specParent}, {"trace-state", "foo=1"}}, true, trace.FlagsSampled, ""},
	{"fields combined in order", []field{{"traceparent", specParent}, {"tracestate", "foo=1,bar=2"}, {"tracestate", "rojo=1,congo=2"}, {"tracestate", "baz=3"}},
		true, trace.FlagsSampled, "foo=1,bar=2,rojo=1,congo=2,baz=3"},
	{"only field empty", []field{{"traceparent", specParent}, {"tracestate", ""}}, true, trace.FlagsSampled, ""},
	{"empty field last", []field{{"traceparent", specParent}, {"tracestate", "foo=1"}, {"tracestate", ""}}, true, trace.FlagsSampled, "foo=1"},
	{"empty field first", []field{{"traceparent", specParent}, {"tracestate", ""}, {"tracestate", "foo=1"}}, true, trace.FlagsSampled, "foo=1"},
	{"empty members", []field{{"traceparent", specParent}, {"tracestate", ",foo=1,,bar=2,"}}, true, trace.FlagsSampled, "foo=1,bar=2"},
	{"whitespace-only member", []field{{"traceparent", specParent}, {"tracestate", "foo=1, \t ,bar=2"}}, true, trace.FlagsSampled, "foo=1,bar=2"},
	{"OWS around commas", []field{{"traceparent", specParent}, {"tracestate", "foo=1 \t , \t bar=2, \t baz=3"}}, true, trace.FlagsSampled, "foo=1,bar=2,baz=3"},
	{"OWS around the field", []field{{"traceparent", specParent}, {"tracestate", "\t foo=1 \t"}}, true, trace.FlagsSampled, "foo=1"},
	{"32 members over four fields", []field{{"traceparent", specParent}, {"tracestate", members(1, 10)}, {"tracestate", members(11, 10)}, {"tracestate", members(21, 10)}, {"tracestate", members(31, 2)}},
		true, trace.FlagsSampled, members(1, 32)},
	{"33 members over four fields", []field{{"traceparent", specParent}, {"tracestate", members(1, 10)}, {"tracestate", members(11, 10)}, {"tracestate", members(21, 10)}, {"tracestate", members(31, 3)}},
		true, trace.FlagsSampled, ""},
	{"33 members in one field", []field{{"traceparent", specParent}, {"tracestate", members(1, 33)}}, true, trace.FlagsSampled, ""},
	{"32 members and empty ones", []field{{"traceparent", specParent}, {"tracestate", members(1, 32) + ",,, ,"}}, true, trace.FlagsSampled, members(1, 32)},

	// tracestate: duplicated keys drop the tracestate, never the trace
	{"duplicate key, same value", []field{{"traceparent", specParent}, {"tracestate", "foo=1,foo=1"}}, true, trace.FlagsSampled, ""},
	{"duplicate key, other value", []field{{"traceparent", specParent}, {"tracestate", "foo=1,foo=2"}}, true, trace.FlagsSampled, ""},
	{"duplicate key across fields", []field{{"traceparent", specParent}, {"tracestate", "foo=1"}, {"tracestate", "foo=2"}}, true, trace.FlagsSampled, ""},

	// tracestate: key grammar
	{"all key characters", []field{{"traceparent", specParent}, {"tracestate", "abcdefghijklmnopqrstuvwxyz0123456789_-*/=1"}}, true, trace.FlagsSampled, "abcdefghijklmnopqrstuvwxyz0123456789_-*/=1"},
	{"multi-tenant key", []field{{"traceparent", specParent}, {"tracestate", "0tenant_-*/@a-z0-9_-*/=1"}}, true, trace.FlagsSampled, "0tenant_-*/@a-z0-9_-*/=1"},
	{"key of 256", []field{{"traceparent", specParent}, {"tracestate", "foo=1"}, {"tracestate", strings.Repeat("z", 256) + "=1"}}, true, trace.FlagsSampled, "foo=1," + strings.Repeat("z", 256) + "=1"},
	{"key of 257", []field{{"traceparent", specParent}, {"tracestate", "foo=1"}, {"tracestate", strings.Repeat("z", 257) + "=1"}}, true, trace.FlagsSampled, ""},
	{"tenant 241, system 14", []field{{"traceparent", specParent}, {"tracestate", "foo=1"}, {"tracestate", strings.Repeat("t", 241) + "@" + strings.Repeat("v", 14) + "=1"}},
		true, trace.FlagsSampled, "foo=1," + strings.Repeat("t", 241) + "@" + strings.Repeat("v", 14) + "=1"},
	{"tenant 242", []field{{"traceparent", specParent}, {"tracestate", "foo=1"}, {"tracestate", strings.Repeat("t", 242) + "@v=1"}}, true, trace.FlagsSampled, ""},
	{"system 15", []field{{"traceparent", specParent}, {"tracestate", "foo=1"}, {"tracestate", "t@" + strings.Repeat("v", 15) + "=1"}}, true, trace.FlagsSampled, ""},
	{"system starting with a digit", []field{{"traceparent", specParent}, {"tracestate", "t@1v=1,bar=2"}}, true, trace.FlagsSampled, ""},
	{"simple key starting with a digit", []field{{"traceparent", specParent}, {"tracestate", "1foo=1,bar=2"}}, true, trace.FlagsSampled, ""},
	{"key starting with @", []field{{"traceparent", specParent}, {"tracestate", "@foo=1,bar=2"}}, true, trace.FlagsSampled, ""},
	{"key ending with @", []field{{"traceparent", specParent}, {"tracestate", "foo@=1,bar=2"}}, true, trace.FlagsSampled, ""},
	{"key with @@", []field{{"traceparent", specParent}, {"tracestate", "foo@@bar=1,bar=2"}}, true, trace.FlagsSampled, ""},
	{"key with two @", []field{{"traceparent", specParent}, {"tracestate", "foo@bar@baz=1,bar=2"}}, true, trace.FlagsSampled, ""},
	{"upper-case key", []field{{"traceparent", specParent}, {"tracestate", "FOO=1,bar=2"}}, true, trace.FlagsSampled, ""},
	{"key with a dot", []field{{"traceparent", specParent}, {"tracestate", "foo.bar=1"}}, true, trace.FlagsSampled, ""},
	{"space before =", []field{{"traceparent", specParent}, {"tracestate", "foo =1"}}, true, trace.FlagsSampled, ""},
	{"invalid member in a second field", []field{{"traceparent", specParent}, {"tracestate", "foo=1"}, {"tracestate", "BAR=2"}}, true, trace.FlagsSampled, ""},

	// tracestate: value grammar
	{"all value characters", []field{{"traceparent", specParent}, {"tracestate", "foo=" + strings.TrimLeft(allValueChars, " ")}}, true, trace.FlagsSampled, "foo=" + strings.TrimLeft(allValueChars, " ")},
	{"value with inner and leading space", []field{{"traceparent", specParent}, {"tracestate", "foo= a b"}}, true, trace.FlagsSampled, "foo= a b"},
	{"value of 256", []field{{"traceparent", specParent}, {"tracestate", "foo=" + strings.Repeat("v", 256)}}, true, trace.FlagsSampled, "foo=" + strings.Repeat("v", 256)},
	{"value of 257", []field{{"traceparent", specParent}, {"tracestate", "foo=" + strings.Repeat("v", 257)}}, true, trace.FlagsSampled, ""},
	{"empty value", []field{{"traceparent", specParent}, {"tracestate", "foo=,bar=3"}}, true, trace.FlagsSampled, ""},
	{"value with =", []field{{"traceparent", specParent}, {"tracestate", "foo=bar=baz"}}, true, trace.FlagsSampled, ""},
	{"value with a control character", []field{{"traceparent", specParent}, {"tracestate", "foo=a\x7fb"}}, true, trace.FlagsSampled, ""},
	{"value with a tab inside", []field{{"traceparent", specParent}, {"tracestate", "foo=a\tb"}}, true, trace.FlagsSampled, ""},
	{"member without =", []field{{"traceparent", specParent}, {"tracestate", "foo,bar=2"}}, true, trace.FlagsSampled, ""},
}

func headerOf(fields []field) http.Header {
	h := http.Header{}
	for _, f := range fields {
		h.Add(f.name, f.value)
	}
	return h
}

func TestW3CExtract(t *testing.T) {
	for _, tc := range extractCases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := W3CTraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(headerOf(tc.fields)))
			sc := trace.SpanContextFromContext(ctx)
			if !tc.continued {
				if sc.IsValid() {
					t.Fatalf("extracted %s from an invalid traceparent", sc.TraceID())
				}
				return
			}
			if sc.TraceID().String() != specTraceID || sc.SpanID().String() != specSpanID || !sc.IsRemote() {
				t.Fatalf("span context %+v, want remote %s-%s", sc, specTraceID, specSpanID)
			}
			if sc.TraceFlags() != tc.flags {
				t.Errorf("flags %02x, want %02x", byte(sc.TraceFlags()), byte(tc.flags))
			}
			if got := sc.TraceState().String(); got != tc.state {
				t.Errorf("tracestate\n got %q\nwant %q", got, tc.state)
			}
		})
	}
}

// A carrier that is not an http.Header: Values when it has it, Get otherwise.
func TestW3CExtractOtherCarriers(t *testing.T) {
	ctx := W3CTraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": specParent, "tracestate": "foo=1, ,bar=2"})
	if sc := trace.SpanContextFromContext(ctx); sc.TraceID().String() != specTraceID || sc.TraceState().String() != "foo=1,bar=2" {
		t.Errorf("map carrier: %+v", sc)
	}
	ctx = W3CTraceContext{}.Extract(context.Background(), valuesCarrier{"traceparent": {specParent, specParent}})
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		t.Errorf("two traceparent values through ValuesGetter continued %s", sc.TraceID())
	}
	ctx = W3CTraceContext{}.Extract(context.Background(), valuesCarrier{"traceparent": {specParent}, "tracestate": {"foo=1", "bar=2"}})
	if sc := trace.SpanContextFromContext(ctx); sc.TraceState().String() != "foo=1,bar=2" {
		t.Errorf("tracestate values through ValuesGetter: %q", sc.TraceState())
	}
}

type valuesCarrier map[string][]string

func (c valuesCarrier) Get(k string) string {
	if v := c[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}
func (c valuesCarrier) Set(k, v string)          { c[k] = []string{v} }
func (c valuesCarrier) Keys() []string           { return nil }
func (c valuesCarrier) Values(k string) []string { return c[k] }

// recordingServer answers 204 and keeps the trace headers of every request.
type recordingServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func newRecordingServer(t *testing.T) *recordingServer {
	t.Helper()
	s := &recordingServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, http.Header{"Traceparent": r.Header.Values("Traceparent"), "Tracestate": r.Header.Values("Tracestate")})
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *recordingServer) last(t *testing.T) http.Header {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) == 0 {
		t.Fatal("the server received no request")
	}
	return s.seen[len(s.seen)-1]
}

// checkOutgoing checks what a client sent on: one traceparent, version 00,
// non-zero ids, and a tracestate that is valid, bounded and unique.
func checkOutgoing(t testing.TB, h http.Header) (traceID, spanID string, flags string) {
	t.Helper()
	parents := h.Values("Traceparent")
	if len(parents) != 1 {
		t.Fatalf("traceparent fields sent: %q", parents)
	}
	m := outgoingParent.FindStringSubmatch(parents[0])
	if m == nil || m[1] == strings.Repeat("0", 32) || m[2] == strings.Repeat("0", 16) {
		t.Fatalf("traceparent sent %q", parents[0])
	}
	switch states := h.Values("Tracestate"); {
	case len(states) > 1:
		t.Fatalf("tracestate fields sent: %q", states)
	case len(states) == 1 && !validTracestate(states[0]):
		t.Fatalf("tracestate sent is invalid: %q", states[0])
	}
	return m[1], m[2], m[3]
}

func TestW3CInjectThroughTransport(t *testing.T) {
	long := func(key string, n int) string { return key + "=" + strings.Repeat("v", n-len(key)-1) }
	state := func(ms ...string) trace.TraceState {
		ts, err := trace.ParseTraceState(strings.Join(ms, ","))
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	for _, tc := range []struct {
		name      string
		flags     trace.TraceFlags
		state     trace.TraceState
		stale     string // a tracestate already on the request
		wantFlags string
		wantState string
	}{
		{"sampled", trace.FlagsSampled, trace.TraceState{}, "", "01", ""},
		{"not sampled", 0, trace.TraceState{}, "", "00", ""},
		{"random carried", trace.FlagsRandom, trace.TraceState{}, "", "02", ""},
		{"sampled and random carried", trace.FlagsSampled | trace.FlagsRandom, trace.TraceState{}, "", "03", ""},
		{"tracestate", trace.FlagsSampled, state("foo=1", "bar=2"), "", "01", "foo=1,bar=2"},
		{"stale tracestate replaced", trace.FlagsSampled, state("foo=1"), "old=1", "01", "foo=1"},
		{"stale tracestate removed", trace.FlagsSampled, trace.TraceState{}, "old=1", "01", ""},
		{"32 members", trace.FlagsSampled, state(members(1, 32)), "", "01", members(1, 32)},
		{"512 characters kept", trace.FlagsSampled, state(long("a", 128), long("b", 128), long("c", 128), long("d", 125)), "", "01",
			strings.Join([]string{long("a", 128), long("b", 128), long("c", 128), long("d", 125)}, ",")},
		{"over 512: long members go first, last first", trace.FlagsSampled,
			state("a=1", long("b", 200), "c=3", long("d", 129), long("e", 120), long("f", 120), long("g", 100), "h=8"), "", "01",
			strings.Join([]string{"a=1", "c=3", long("e", 120), long("f", 120), long("g", 100), "h=8"}, ",")},
		{"over 512: then from the end", trace.FlagsSampled,
			state(long("a", 120), long("b", 120), long("c", 120), long("d", 120), long("e", 120)), "", "01",
			strings.Join([]string{long("a", 120), long("b", 120), long("c", 120), long("d", 120)}, ",")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRecordingServer(t)
			tp := sdktrace.NewTracerProvider()
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			parent := trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: mustTraceID(t, specTraceID), SpanID: mustSpanID(t, specSpanID),
				TraceFlags: tc.flags, TraceState: tc.state, Remote: true,
			})
			ctx := trace.ContextWithRemoteSpanContext(context.Background(), parent)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			if tc.stale != "" {
				req.Header.Set("tracestate", tc.stale)
			}
			resp, err := (&http.Client{Transport: NewTransport(nil, WithTracerProvider(tp))}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := srv.last(t)
			traceID, spanID, flags := checkOutgoing(t, h)
			if traceID != specTraceID || spanID == specSpanID {
				t.Errorf("sent trace %s parent %s: want the trace kept with a new parent id", traceID, spanID)
			}
			if flags != tc.wantFlags {
				t.Errorf("flags %s, want %s", flags, tc.wantFlags)
			}
			if got := h.Get("Tracestate"); got != tc.wantState {
				t.Errorf("tracestate\n got %q\nwant %q", got, tc.wantState)
			}
		})
	}
}

func mustTraceID(t testing.TB, s string) trace.TraceID {
	t.Helper()
	id, err := trace.TraceIDFromHex(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustSpanID(t testing.TB, s string) trace.SpanID {
	t.Helper()
	id, err := trace.SpanIDFromHex(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A trace this process starts carries the random flag, its children too.
func TestRandomFlagOnGeneratedTraces(t *testing.T) {
	srv := newRecordingServer(t)
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tracer := withRandomFlag(tp).Tracer("test")
	ctx, root := tracer.Start(context.Background(), "root")
	defer root.End()
	if f := root.SpanContext().TraceFlags(); f != trace.FlagsSampled|trace.FlagsRandom {
		t.Errorf("root flags %02x, want 03", byte(f))
	}
	_, child := tracer.Start(ctx, "child")
	child.End()
	if !child.SpanContext().IsRandom() || child.SpanContext().TraceID() != root.SpanContext().TraceID() {
		t.Errorf("child %+v of root %+v", child.SpanContext(), root.SpanContext())
	}
	_, newRoot := tracer.Start(context.Background(), "new root", trace.WithNewRoot(), trace.WithAttributes(AttrTrackingID.String("x")))
	newRoot.End()
	if !newRoot.SpanContext().IsRandom() || newRoot.SpanContext().TraceID() == root.SpanContext().TraceID() {
		t.Errorf("new root %+v", newRoot.SpanContext())
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := HTTPClient(0, WithTracerProvider(tp)).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	traceID, _, flags := checkOutgoing(t, srv.last(t))
	if traceID != root.SpanContext().TraceID().String() || flags != "03" {
		t.Errorf("sent trace %s flags %s", traceID, flags)
	}
	if p := withRandomFlag(noop.NewTracerProvider()); p != (noop.NewTracerProvider()) {
		t.Errorf("a provider other than the SDK's was wrapped: %T", p)
	}
	// A received trace id without the flag is not ours to mark random.
	remote := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: mustTraceID(t, specTraceID), SpanID: mustSpanID(t, specSpanID), TraceFlags: trace.FlagsSampled, Remote: true}))
	_, continued := tracer.Start(remote, "continued")
	continued.End()
	if continued.SpanContext().IsRandom() {
		t.Error("a continued trace without the random flag got it")
	}
}

// roundTrip serves fields to a service whose handler calls a downstream
// service with HTTPClient, and returns the server's tracking id and the
// headers the downstream service received.
func roundTrip(t *testing.T, fields []field, opts ...Option) (trackingID string, downstream http.Header, spans *tracetest.SpanRecorder) {
	t.Helper()
	down := newRecordingServer(t)
	spans = tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	client := HTTPClient(0, WithTracerProvider(tp))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /call", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, down.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(NewMiddleware(append([]Option{WithTracerProvider(tp), WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)(mux))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/call", nil)
	for _, f := range fields {
		req.Header[f.name] = append(req.Header[f.name], f.value) // as sent, name and all
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	return resp.Header.Get(HeaderTrackingID), down.last(t), spans
}

// Every extract case, through a server and on to the next service; but
// those with a control character, which net/http refuses to send (the
// extract table covers them).
func TestW3CRoundTrip(t *testing.T) {
	for _, tc := range extractCases {
		if slices.ContainsFunc(tc.fields, func(f field) bool { return strings.ContainsRune(f.value, 0x7f) }) {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			trackingID, h, _ := roundTrip(t, tc.fields)
			traceID, spanID, flags := checkOutgoing(t, h)
			if traceID != trackingID {
				t.Errorf("sent trace %s, tracking id %s", traceID, trackingID)
			}
			if spanID == specSpanID {
				t.Error("the caller's parent id was sent on")
			}
			if !tc.continued {
				if traceID == specTraceID {
					t.Errorf("invalid traceparent continued: %s", traceID)
				}
				if flags != "03" || h.Get("Tracestate") != "" {
					t.Errorf("fresh trace sent flags %s, tracestate %q; want 03 and none", flags, h.Get("Tracestate"))
				}
				return
			}
			if traceID != specTraceID {
				t.Errorf("trace %s not continued", traceID)
			}
			// The default sampler follows the parent: sampled as received;
			// random as received.
			if want := flagsHex(tc.flags); flags != want {
				t.Errorf("flags %s, want %s", flags, want)
			}
			if got := h.Get("Tracestate"); got != tc.state {
				t.Errorf("tracestate\n got %q\nwant %q", got, tc.state)
			}
		})
	}
}

func flagsHex(f trace.TraceFlags) string {
	return string(appendHex(nil, []byte{byte(f)}))
}

// An untrusted caller's trace is linked, not continued, and the trace the
// server starts instead is marked random.
func TestW3CRoundTripUntrustedCaller(t *testing.T) {
	trackingID, h, spans := roundTrip(t, []field{{"Traceparent", parentWithFlags("00")}, {"Tracestate", "foo=1"}},
		WithTrustedCaller(func(*http.Request) bool { return false }))
	traceID, _, flags := checkOutgoing(t, h)
	if traceID == specTraceID || traceID != trackingID {
		t.Errorf("sent trace %s, tracking id %s", traceID, trackingID)
	}
	if flags != "03" || h.Get("Tracestate") != "" {
		t.Errorf("flags %s tracestate %q: want a fresh sampled random trace, no tracestate", flags, h.Get("Tracestate"))
	}
	linked := false
	for _, sp := range spans.Ended() {
		if sp.SpanKind() != trace.SpanKindServer {
			continue
		}
		if links := sp.Links(); len(links) != 1 || links[0].SpanContext.TraceID().String() != specTraceID {
			t.Errorf("server span links %+v, want the caller's trace", links)
		}
		linked = true
	}
	if !linked {
		t.Error("no server span")
	}

	_, h, _ = roundTrip(t, nil, WithTrustedCaller(func(*http.Request) bool { return false }))
	if _, _, flags := checkOutgoing(t, h); flags != "03" {
		t.Errorf("untrusted caller without traceparent: flags %s, want 03", flags)
	}
}

// With the SDK disabled an untrusted caller still cannot choose the
// tracking id, whether the handler answers or refuses it.
func TestUntrustedCallerWithSDKDisabled(t *testing.T) {
	tel, err := Setup(context.Background(), Config{ServiceName: "test", Disabled: true, LogWriter: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	for _, tc := range []struct {
		name      string
		trusted   bool
		status    int
		continued bool
	}{
		{"untrusted, answered", false, http.StatusOK, false},
		{"untrusted, refused", false, http.StatusUnauthorized, false},
		{"trusted", true, http.StatusOK, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tel.Middleware(WithTrustedCaller(func(*http.Request) bool { return tc.trusted }))(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if tc.status == http.StatusUnauthorized {
					WriteError(w, http.StatusUnauthorized, "unauthorized", "missing API key")
				}
			}))
			req := httptest.NewRequest(http.MethodGet, "/api/x", nil)
			req.Header.Set("traceparent", specParent)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			tid := w.Header().Get(HeaderTrackingID)
			if w.Code != tc.status || !hex32.MatchString(tid) || tid == strings.Repeat("0", 32) {
				t.Fatalf("status %d, tracking id %q", w.Code, tid)
			}
			if (tid == specTraceID) != tc.continued {
				t.Errorf("tracking id %s; continued should be %v", tid, tc.continued)
			}
		})
	}
}

func FuzzTraceContextPropagator(f *testing.F) {
	for _, tc := range extractCases {
		var parents, states []string
		for _, fl := range tc.fields {
			switch strings.ToLower(fl.name) {
			case "traceparent":
				parents = append(parents, fl.value)
			case "tracestate":
				states = append(states, fl.value)
			}
		}
		parents = append(parents, "", "")
		states = append(states, "", "")
		f.Add(parents[0], parents[1], len(parents) > 3, states[0], states[1], len(states) > 3)
	}
	f.Add(specParent, "", false, members(1, 32)+","+strings.Repeat("k", 200)+"="+strings.Repeat("v", 200), "", false)
	tp := sdktrace.NewTracerProvider()
	f.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tracer := withRandomFlag(tp).Tracer("fuzz")
	p := DefaultPropagator()
	f.Fuzz(func(t *testing.T, parent1, parent2 string, twoParents bool, state1, state2 string, twoStates bool) {
		in := http.Header{"Traceparent": {parent1}, "Tracestate": {state1}}
		if twoParents {
			in["Traceparent"] = append(in["Traceparent"], parent2)
		}
		if twoStates {
			in["Tracestate"] = append(in["Tracestate"], state2)
		}
		ctx := p.Extract(context.Background(), propagation.HeaderCarrier(in))
		remote := trace.SpanContextFromContext(ctx)
		if remote.IsValid() {
			if twoParents {
				t.Fatal("two traceparent fields continued")
			}
			checkOutgoingState(t, remote.TraceState().String())
		}
		// As received, and after a span of ours: both go out valid.
		for _, ctx := range []context.Context{ctx, startSpan(ctx, tracer)} {
			out := http.Header{}
			p.Inject(ctx, propagation.HeaderCarrier(out))
			if !trace.SpanContextFromContext(ctx).IsValid() {
				continue
			}
			traceID, _, _ := checkOutgoing(t, out)
			if remote.IsValid() && traceID != remote.TraceID().String() {
				t.Fatalf("trace %s became %s", remote.TraceID(), traceID)
			}
		}
	})
}

func startSpan(ctx context.Context, tracer trace.Tracer) context.Context {
	ctx, span := tracer.Start(ctx, "fuzz")
	span.End()
	return ctx
}

func checkOutgoingState(t *testing.T, s string) {
	t.Helper()
	if s != "" && !validTracestateIgnoringLength(s) {
		t.Fatalf("extracted tracestate is invalid: %q", s)
	}
}

// validTracestateIgnoringLength is validTracestate without the 512
// character bound, which applies to what is sent, not what is received.
func validTracestateIgnoringLength(s string) bool {
	if len(s) <= maxTracestateLength {
		return validTracestate(s)
	}
	ms := strings.Split(s, ",")
	seen := map[string]bool{}
	for _, m := range ms {
		k, v, ok := strings.Cut(m, "=")
		if !ok || seen[k] || !validTracestateKey(k) || !validTracestateValue(v) {
			return false
		}
		seen[k] = true
	}
	return len(ms) <= maxTracestateMembers
}
