package telemetry

import (
	"context"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// W3CTraceContext propagates traceparent and tracestate as W3C Trace
// Context Level 1 and 2 require (propagation.TraceContext reads only the
// first field of each and refuses some valid lists):
//
//   - every tracestate header field counts, combined in order; empty fields
//     and empty or whitespace-only list members are skipped;
//   - more than one traceparent field makes the traceparent invalid, so a
//     fresh trace starts;
//   - a tracestate with an invalid member, a duplicated key or more than 32
//     members is dropped whole (the trace still continues): the header is
//     invalid, and guessing which duplicate the sender meant could pass on
//     state its owner never wrote;
//   - a version-00 traceparent is exactly 55 characters (OWS aside);
//   - a traceparent of a version above 00 is read as its first 55
//     characters in version-00 format when the rest starts with "-"; it is
//     always sent on as version 00, with only the sampled and random flags;
//   - unknown flag bits of a version-00 traceparent are ignored, not fatal
//     (flags are a bit field read through a mask);
//   - an outgoing tracestate is never over 512 characters.
//
// The random flag (0x02) is carried as received; traces this process
// starts get it from withRandomFlag, which newConfig and Setup apply.
type W3CTraceContext struct{}

var _ propagation.TextMapPropagator = W3CTraceContext{}

// DefaultPropagator is the propagator every service uses: W3CTraceContext
// and W3C baggage.
func DefaultPropagator() propagation.TextMapPropagator {
	return defaultPropagator
}

var defaultPropagator = propagation.NewCompositeTextMapPropagator(W3CTraceContext{}, propagation.Baggage{})

const (
	traceparentField = "traceparent"
	tracestateField  = "tracestate"

	// traceparentLength is the length of a version-00 traceparent.
	traceparentLength = 55
	// maxTracestateMembers and maxTracestateLength bound what is sent on.
	maxTracestateMembers = 32
	maxTracestateLength  = 512
	// tracestateLongMember is the size above which members are dropped
	// first when the tracestate is over maxTracestateLength.
	tracestateLongMember = 128
)

// The http.Header keys of the fields: read directly, they cost no
// canonicalisation per request.
var (
	traceparentKey = http.CanonicalHeaderKey(traceparentField)
	tracestateKey  = http.CanonicalHeaderKey(tracestateField)
)

// Fields returns the header fields Inject sets.
func (W3CTraceContext) Fields() []string { return []string{traceparentField, tracestateField} }

// Extract returns ctx with the remote span context in carrier, or ctx
// itself when carrier holds no valid traceparent.
func (W3CTraceContext) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	parents, states := fieldValues(carrier)
	if len(parents) != 1 {
		return ctx
	}
	scc, ok := parseTraceparent(parents[0])
	if !ok {
		return ctx
	}
	scc.TraceState = parseTracestate(states)
	scc.Remote = true
	return trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(scc))
}

// fieldValues returns every value of traceparent and of tracestate, in
// the order received. Get alone would hide the second and later fields.
func fieldValues(carrier propagation.TextMapCarrier) (parents, states []string) {
	switch c := carrier.(type) {
	case propagation.HeaderCarrier:
		return c[traceparentKey], c[tracestateKey]
	case propagation.ValuesGetter:
		return c.Values(traceparentField), c.Values(tracestateField)
	}
	if v := carrier.Get(traceparentField); v != "" {
		parents = []string{v}
	}
	if v := carrier.Get(tracestateField); v != "" {
		states = []string{v}
	}
	return parents, states
}

// parseTraceparent reads version-format = trace-id "-" parent-id "-"
// trace-flags after a two-digit version; see W3CTraceContext for the
// forward-compatible reading of later versions.
func parseTraceparent(v string) (trace.SpanContextConfig, bool) {
	var scc trace.SpanContextConfig
	v = trimOWS(v)
	if len(v) < traceparentLength || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return scc, false
	}
	var version [1]byte
	if !decodeHex(version[:], v[0:2]) || version[0] == 0xff {
		return scc, false
	}
	if len(v) > traceparentLength && (version[0] == 0 || v[traceparentLength] != '-') {
		return scc, false
	}
	var flags [1]byte
	if !decodeHex(scc.TraceID[:], v[3:35]) || !decodeHex(scc.SpanID[:], v[36:52]) || !decodeHex(flags[:], v[53:55]) {
		return scc, false
	}
	if !scc.TraceID.IsValid() || !scc.SpanID.IsValid() {
		return scc, false
	}
	scc.TraceFlags = trace.TraceFlags(flags[0]) & (trace.FlagsSampled | trace.FlagsRandom)
	return scc, true
}

// decodeHex decodes lowercase hex only, as the traceparent grammar has it.
func decodeHex(dst []byte, s string) bool {
	for i := range dst {
		hi, lo := fromHex(s[2*i]), fromHex(s[2*i+1])
		if hi > 0x0f || lo > 0x0f {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func fromHex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return 0xff
}

// parseTracestate combines the tracestate fields into one TraceState, or
// the empty one when the combined list is invalid.
func parseTracestate(fields []string) trace.TraceState {
	switch len(fields) {
	case 0:
		return trace.TraceState{}
	case 1:
		// OTel's parser accepts only lists that are valid here too; what it
		// refuses (a whitespace-only member) gets the full reading below.
		if ts, err := trace.ParseTraceState(fields[0]); err == nil {
			return ts
		}
	}
	var members [maxTracestateMembers]tracestateMember
	n := 0
	for _, field := range fields {
		for field != "" {
			var m string
			m, field, _ = strings.Cut(field, ",")
			if m = trimOWS(m); m == "" {
				continue
			}
			key, value, ok := strings.Cut(m, "=")
			if !ok || !validTracestateKey(key) || !validTracestateValue(value) || n == maxTracestateMembers {
				return trace.TraceState{}
			}
			for _, seen := range members[:n] {
				if seen.key == key {
					return trace.TraceState{}
				}
			}
			members[n] = tracestateMember{key, value}
			n++
		}
	}
	ts, err := trace.ParseTraceState(joinMembers(members[:n]))
	if err != nil {
		return trace.TraceState{}
	}
	return ts
}

type tracestateMember struct{ key, value string }

func (m tracestateMember) size() int { return len(m.key) + 1 + len(m.value) }

func joinMembers(ms []tracestateMember) string {
	var b strings.Builder
	b.Grow(listSize(ms))
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(m.key)
		b.WriteByte('=')
		b.WriteString(m.value)
	}
	return b.String()
}

func listSize(ms []tracestateMember) int {
	n := max(len(ms)-1, 0)
	for _, m := range ms {
		n += m.size()
	}
	return n
}

// trimOWS removes the optional whitespace (SP and HTAB) around a value.
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// Inject sets traceparent, version 00, and tracestate from the span
// context in ctx; a tracestate already in a header carrier is replaced or
// removed, so it never goes out beside a traceparent it does not belong to.
func (W3CTraceContext) Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return
	}
	parent := formatTraceparent(sc)
	state := outgoingTracestate(sc.TraceState())
	if h, ok := carrier.(propagation.HeaderCarrier); ok {
		h[traceparentKey] = []string{parent}
		if state == "" {
			delete(h, tracestateKey)
		} else {
			h[tracestateKey] = []string{state}
		}
		return
	}
	carrier.Set(traceparentField, parent)
	if state != "" {
		carrier.Set(tracestateField, state)
	}
}

func formatTraceparent(sc trace.SpanContext) string {
	var b [traceparentLength]byte
	buf := append(b[:0], "00-"...)
	tid, sid := sc.TraceID(), sc.SpanID()
	buf = appendHex(buf, tid[:])
	buf = append(buf, '-')
	buf = appendHex(buf, sid[:])
	buf = append(buf, '-')
	buf = appendHex(buf, []byte{byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))})
	return string(buf)
}

// outgoingTracestate is ts as sent on: valid members only, no duplicated
// key, at most maxTracestateMembers members and maxTracestateLength
// characters.
func outgoingTracestate(ts trace.TraceState) string {
	if ts.Len() == 0 {
		return ""
	}
	s := ts.String()
	if len(s) <= maxTracestateLength && validTracestate(s) {
		return s
	}
	var members [maxTracestateMembers]tracestateMember
	n := 0
	ts.Walk(func(key, value string) bool {
		if !validTracestateKey(key) || !validTracestateValue(value) {
			return true
		}
		for _, seen := range members[:n] {
			if seen.key == key {
				return true
			}
		}
		members[n] = tracestateMember{key, value}
		n++
		return n < maxTracestateMembers
	})
	return joinMembers(truncateTracestate(members[:n]))
}

// truncateTracestate drops members until the list fits in
// maxTracestateLength: members over tracestateLongMember characters
// first, then from the end of the list, as the specification advises.
func truncateTracestate(ms []tracestateMember) []tracestateMember {
	size := listSize(ms)
	for size > maxTracestateLength && len(ms) > 0 {
		drop := len(ms) - 1
		for i := len(ms) - 1; i >= 0; i-- {
			if ms[i].size() > tracestateLongMember {
				drop = i
				break
			}
		}
		size -= ms[drop].size()
		if len(ms) > 1 {
			size-- // its comma
		}
		ms = append(ms[:drop], ms[drop+1:]...)
	}
	return ms
}

// validTracestate reports whether s is a tracestate this package would
// send: comma-separated valid members without whitespace or empty
// members, no key twice, at most maxTracestateMembers members and
// maxTracestateLength characters.
func validTracestate(s string) bool {
	if s == "" || len(s) > maxTracestateLength {
		return false
	}
	var keys [maxTracestateMembers]string
	n := 0
	for s != "" {
		var m string
		m, s, _ = strings.Cut(s, ",")
		key, value, ok := strings.Cut(m, "=")
		if !ok || n == maxTracestateMembers || !validTracestateKey(key) || !validTracestateValue(value) {
			return false
		}
		for _, seen := range keys[:n] {
			if seen == key {
				return false
			}
		}
		keys[n] = key
		n++
	}
	return true
}

// validTracestateKey reports whether key is a W3C tracestate key:
//
//	simple-key       = lcalpha 0*255( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
//	multi-tenant-key = tenant-id "@" system-id
//	tenant-id        = ( lcalpha / DIGIT ) 0*240( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
//	system-id        = lcalpha 0*13( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
func validTracestateKey(key string) bool {
	tenant, system, multi := strings.Cut(key, "@")
	if !multi {
		return len(key) >= 1 && len(key) <= 256 && isLower(key[0]) && keyChars(key[1:])
	}
	return len(tenant) >= 1 && len(tenant) <= 241 && (isLower(tenant[0]) || isDigit(tenant[0])) && keyChars(tenant[1:]) &&
		len(system) >= 1 && len(system) <= 14 && isLower(system[0]) && keyChars(system[1:])
}

func keyChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLower(c) && !isDigit(c) && c != '_' && c != '-' && c != '*' && c != '/' {
			return false
		}
	}
	return true
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// validTracestateValue reports whether v is a W3C tracestate value:
//
//	value    = 0*255(chr) nblk-chr
//	chr      = %x20 / nblk-chr
//	nblk-chr = %x21-2B / %x2D-3C / %x3E-7E
func validTracestateValue(v string) bool {
	if len(v) < 1 || len(v) > 256 || v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e || c == ',' || c == '=' {
			return false
		}
	}
	return true
}
