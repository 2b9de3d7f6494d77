package telemetry

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzTraceparent throws arbitrary traceparent/tracestate/baggage values at
// the middleware: every response must be a 200 with a valid, non-zero
// tracking id, and a value that is not a valid W3C traceparent must never
// become the tracking id.
func FuzzTraceparent(f *testing.F) {
	for _, seed := range []string{
		validParent,
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
		validParent + strings.Repeat("0", 300),
		"", "-", "00--", "\x00\xff",
	} {
		f.Add(seed, "k=v", "user=1")
	}
	s := newTestServer(f)
	f.Fuzz(func(t *testing.T, parent, state, bag string) {
		req := httptest.NewRequest("GET", "/ok/1", nil)
		req.Header["Traceparent"] = []string{parent}
		req.Header["Tracestate"] = []string{state}
		req.Header["Baggage"] = []string{bag}
		w := httptest.NewRecorder()
		s.h.ServeHTTP(w, req)
		tid := w.Header().Get(HeaderTrackingID)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d for traceparent %q", w.Code, parent)
		}
		if !hex32.MatchString(tid) || tid == strings.Repeat("0", 32) {
			t.Fatalf("tracking id %q for traceparent %q", tid, parent)
		}
		if strings.Contains(strings.ToLower(parent), tid) && !validTraceparent(parent) {
			t.Fatalf("invalid traceparent %q was continued", parent)
		}
		var body map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["tracking_id"] != tid {
			t.Fatalf("handler saw tracking id %q, header %q", body["tracking_id"], tid)
		}
	})
}

// validTraceparent is an independent reading of W3C trace-context level 1:
// version 00 exactly 55 chars; later versions may append "-..." fields.
func validTraceparent(h string) bool {
	h = strings.TrimSpace(h)
	if len(h) < 55 {
		return false
	}
	ver := h[:2]
	if ver == "ff" || !isHex(ver) {
		return false
	}
	if ver == "00" && len(h) != 55 {
		return false
	}
	if len(h) > 55 && h[55] != '-' {
		return false
	}
	if h[2] != '-' || h[35] != '-' || h[52] != '-' {
		return false
	}
	tid, sid, flags := h[3:35], h[36:52], h[53:55]
	return isHex(tid) && isHex(sid) && isHex(flags) && tid != strings.Repeat("0", 32) && sid != strings.Repeat("0", 16)
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// FuzzHeaders sends arbitrary header names and values: never a panic,
// always a tracking id, and a JSON body.
func FuzzHeaders(f *testing.F) {
	f.Add("X-API-Key", "abc")
	f.Add("Authorization", "Bearer \x00\xff")
	f.Add("X-Big", strings.Repeat("z", 40<<10))
	s := newTestServer(f)
	f.Fuzz(func(t *testing.T, name, value string) {
		req := httptest.NewRequest("GET", "/ok/1", nil)
		req.Header[name] = []string{value}
		w := httptest.NewRecorder()
		s.h.ServeHTTP(w, req)
		if tid := w.Header().Get(HeaderTrackingID); !hex32.MatchString(tid) {
			t.Fatalf("tracking id %q", tid)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("body is not JSON: %q", w.Body)
		}
	})
}
