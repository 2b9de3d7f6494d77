package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// The caller's trace, as a client outside would send it. Everything the
// gateway answers is compared with these ids.
const (
	callerTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID      = "00f067aa0ba902b7"
	callerTraceparent = "00-" + callerTraceID + "-" + callerSpanID + "-01"
)

const validWorkflowBody = `{"user_id":"user_tp","goal":"summarise the quarterly report"}`

var trackingIDFormat = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestGatewayContinuesTraceparentOfAuthenticatedClient(t *testing.T) {
	s := startSlice(t, "", t.TempDir())
	status, tid, body := s.post(t, "/api/v1/workflows", validWorkflowBody, map[string]string{"traceparent": callerTraceparent})
	if status != http.StatusCreated {
		t.Fatalf("status %d: %s", status, body)
	}
	if tid != callerTraceID {
		t.Fatalf("X-Tracking-ID %q, want the caller's trace id %s", tid, callerTraceID)
	}
	sp := waitGatewayServerSpan(t, s, tid)
	if p := sp.Parent(); p.TraceID().String() != callerTraceID || p.SpanID().String() != callerSpanID || !p.IsRemote() {
		t.Errorf("gateway server span's parent is %s/%s (remote %v), want the caller's span %s/%s",
			p.TraceID(), p.SpanID(), p.IsRemote(), callerTraceID, callerSpanID)
	}
	if n := len(sp.Links()); n != 0 {
		t.Errorf("a continued trace needs no link, got %d", n)
	}
}

// The caller cannot choose our tracking id without a valid key; 401s carry one too.
func TestGatewayDoesNotContinueTraceparentOfUnauthenticatedCaller(t *testing.T) {
	s := startSlice(t, "", t.TempDir())
	for name, auth := range map[string]string{"no key": "", "wrong key": "Bearer not-" + testKey} {
		t.Run(name, func(t *testing.T) {
			status, tid, body := s.post(t, "/api/v1/workflows", validWorkflowBody,
				map[string]string{"Authorization": auth, "traceparent": callerTraceparent})
			if status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", status, body)
			}
			if !trackingIDFormat.MatchString(tid) {
				t.Fatalf("X-Tracking-ID %q is not 32 lowercase hex", tid)
			}
			if tid == callerTraceID {
				t.Fatalf("X-Tracking-ID %s is the unauthenticated caller's trace id: its traceparent was continued", tid)
			}
			if !strings.Contains(string(body), tid) {
				t.Errorf("401 body does not repeat the tracking id %s: %s", tid, body)
			}
			if p := waitGatewayServerSpan(t, s, tid).Parent(); p.IsValid() {
				t.Errorf("gateway server span has parent %s/%s, want a new root", p.TraceID(), p.SpanID())
			}
			for _, sp := range s.spans.Ended() {
				if sp.SpanContext().TraceID().String() == callerTraceID {
					t.Errorf("span %q of %s joined the caller's trace", sp.Name(), serviceName(sp))
				}
			}
		})
	}
}

func TestGatewayLinksTraceparentOfUnauthenticatedCaller(t *testing.T) {
	s := startSlice(t, "", t.TempDir())
	for name, auth := range map[string]string{"no key": "", "wrong key": "Bearer not-" + testKey} {
		t.Run(name, func(t *testing.T) {
			_, tid, _ := s.post(t, "/api/v1/workflows", validWorkflowBody,
				map[string]string{"Authorization": auth, "traceparent": callerTraceparent})
			sp := waitGatewayServerSpan(t, s, tid)
			var linked bool
			for _, l := range sp.Links() {
				if l.SpanContext.TraceID().String() == callerTraceID && l.SpanContext.SpanID().String() == callerSpanID {
					linked = true
				}
			}
			if !linked {
				var got []string
				for _, l := range sp.Links() {
					got = append(got, l.SpanContext.TraceID().String()+"/"+l.SpanContext.SpanID().String())
				}
				t.Errorf("gateway server span has links %v, want one to the caller's span %s/%s", got, callerTraceID, callerSpanID)
			}
		})
	}
}

// An authenticated client with a traceparent we cannot read is served as if
// it had sent none: a fresh trace, and the request itself unaffected.
func TestGatewayStartsFreshTraceOnInvalidTraceparent(t *testing.T) {
	s := startSlice(t, "", t.TempDir())
	for _, tc := range []struct{ name, traceparent string }{
		{"malformed", "00-zz-yy-01"},
		{"all-zero trace id", "00-00000000000000000000000000000000-" + callerSpanID + "-01"},
		{"all-zero span id", "00-" + callerTraceID + "-0000000000000000-01"},
		{"version ff", "ff-" + callerTraceID + "-" + callerSpanID + "-01"},
		{"version 00 with an extra field", callerTraceparent + "-extra"},
		{"over-long", callerTraceparent + strings.Repeat("0", 300)},
		{"upper-case hex", strings.ToUpper(callerTraceparent)},
		{"trace id one byte short", "00-" + callerTraceID[2:] + "-" + callerSpanID + "-01"},
		{"span id one byte long", "00-" + callerTraceID + "-" + callerSpanID + "ab-01"},
		{"no flags", "00-" + callerTraceID + "-" + callerSpanID},
		{"non-hex version", "0g-" + callerTraceID + "-" + callerSpanID + "-01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, tid, body := s.post(t, "/api/v1/workflows", validWorkflowBody, map[string]string{"traceparent": tc.traceparent})
			if status != http.StatusCreated {
				t.Fatalf("status %d, want 201: %s", status, body)
			}
			if !trackingIDFormat.MatchString(tid) || tid == strings.Repeat("0", 32) {
				t.Fatalf("X-Tracking-ID %q is not 32 lowercase hex, non-zero", tid)
			}
			if strings.Contains(strings.ToLower(tc.traceparent), tid) {
				t.Fatalf("X-Tracking-ID %s was taken from the invalid traceparent %q", tid, tc.traceparent)
			}
			sp := waitGatewayServerSpan(t, s, tid)
			if p := sp.Parent(); p.IsValid() {
				t.Errorf("gateway server span has parent %s/%s, want a root", p.TraceID(), p.SpanID())
			}
			if n := len(sp.Links()); n != 0 {
				t.Errorf("gateway server span has %d links to an invalid traceparent", n)
			}
		})
	}
}

// waitGatewayServerSpan returns the gateway's server span of trace tid once
// it has ended: the client may read the response before otelhttp ends it.
func waitGatewayServerSpan(t *testing.T, s *slice, tid string) sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, sp := range s.spans.Ended() {
			if sp.SpanKind() == trace.SpanKindServer && serviceName(sp) == "api-gateway" && sp.SpanContext().TraceID().String() == tid {
				return sp
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no api-gateway server span of trace %s ended within 5s", tid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
