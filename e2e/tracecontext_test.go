package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/starmates-ai/ai-teams/services/workflowagent"
	"github.com/starmates-ai/ai-teams/telemetry"
)

// TestTraceContextAcrossTheGatewayHop sends W3C trace context headers, as
// the specification allows and forbids them, to the api-gateway binary and
// reads what the workflow-agent binary received from it. A recording proxy
// stands in the agent's URL and forwards to the agent, so the headers seen
// are the bytes the gateway sent. Once with the SDK exporting (to a
// collector that is down) and once with OTEL_SDK_DISABLED=true: both go
// through telemetry.Setup, as the commands do.
func TestTraceContextAcrossTheGatewayHop(t *testing.T) {
	bin := buildCommands(t, "./cmd/api-gateway", "./cmd/workflow-agent", "./cmd/workflow-engine")
	for _, mode := range []struct {
		name string
		env  []string
	}{
		{"SDK on", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + refusingAddr(t)}},
		{"SDK disabled", []string{"OTEL_SDK_DISABLED=true"}},
	} {
		t.Run(mode.name, func(t *testing.T) { traceContextHop(t, bin, mode.env) })
	}
}

// hopCase is what the caller sends the gateway and what the agent must get.
type hopCase struct {
	name    string
	key     string      // API key; "" sends none
	fields  [][2]string // header fields in order; a name may repeat
	status  int
	traceID string // the trace continued; "" wants a fresh one
	flags   string // the outgoing traceparent's flags
	state   string // the outgoing tracestate; "" wants none
}

const (
	hopTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	hopParent  = "00-" + hopTraceID + "-00f067aa0ba902b7-01"
)

var hopCases = []hopCase{
	{name: "tracestate fields combined in order", key: "ok", fields: [][2]string{{"traceparent", hopParent},
		{"tracestate", "foo=1,bar=2"}, {"tracestate", "rojo=1,congo=2"}, {"tracestate", "baz=3"}},
		status: 201, traceID: hopTraceID, flags: "01", state: "foo=1,bar=2,rojo=1,congo=2,baz=3"},
	{name: "an empty tracestate field among others", key: "ok", fields: [][2]string{{"traceparent", hopParent},
		{"tracestate", ""}, {"tracestate", "foo=1"}}, status: 201, traceID: hopTraceID, flags: "01", state: "foo=1"},
	{name: "two traceparent fields start a new trace", key: "ok", fields: [][2]string{{"traceparent", hopParent},
		{"traceparent", "00-" + hopTraceID + "-b7ad6b7169203331-01"}, {"tracestate", "foo=1"}}, status: 201, flags: "03"},
	{name: "32 members kept", key: "ok", fields: [][2]string{{"traceparent", hopParent}, {"tracestate", hopMembers(32)}},
		status: 201, traceID: hopTraceID, flags: "01", state: hopMembers(32)},
	{name: "33 members drop the tracestate, not the trace", key: "ok", fields: [][2]string{{"traceparent", hopParent},
		{"tracestate", hopMembers(20)}, {"tracestate", strings.TrimPrefix(hopMembers(33), hopMembers(20)+",")}},
		status: 201, traceID: hopTraceID, flags: "01"},
	{name: "a key starting with @ drops the tracestate", key: "ok", fields: [][2]string{{"traceparent", hopParent},
		{"tracestate", "@foo=1,bar=2"}}, status: 201, traceID: hopTraceID, flags: "01"},
	{name: "a duplicated key drops the tracestate", key: "ok", fields: [][2]string{{"traceparent", hopParent},
		{"tracestate", "foo=1"}, {"tracestate", "foo=2"}}, status: 201, traceID: hopTraceID, flags: "01"},
	{name: "a later version is continued as version 00", key: "ok", fields: [][2]string{
		{"traceparent", "cc-" + hopTraceID + "-00f067aa0ba902b7-01-future-fields"}}, status: 201, traceID: hopTraceID, flags: "01"},
	{name: "the random flag is carried as received", key: "ok", fields: [][2]string{
		{"traceparent", "00-" + hopTraceID + "-00f067aa0ba902b7-03"}}, status: 201, traceID: hopTraceID, flags: "03"},
	{name: "unknown flag bits are ignored, not fatal", key: "ok", fields: [][2]string{
		{"traceparent", "00-" + hopTraceID + "-00f067aa0ba902b7-ff"}}, status: 201, traceID: hopTraceID, flags: "03"},
	{name: "a new trace gets the random flag", key: "ok", status: 201, flags: "03"},
	{name: "an unauthenticated caller's trace is not continued", fields: [][2]string{{"traceparent", hopParent}}, status: 401},
	{name: "a caller with a wrong key is not continued", key: "wrong", fields: [][2]string{{"traceparent", hopParent}}, status: 401},
}

func hopMembers(n int) string {
	ms := make([]string, n)
	for i := range ms {
		ms[i] = "vendor" + string(rune('a'+i/26)) + string(rune('a'+i%26)) + "=v"
	}
	return strings.Join(ms, ",")
}

var sentTraceparent = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$`)

func traceContextHop(t *testing.T, bin string, env []string) {
	var running sync.WaitGroup
	t.Cleanup(running.Wait)
	base := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "ADDR=127.0.0.1:0"}, env...)
	engineOut, engineExit := startBinary(t, &running, filepath.Join(bin, "workflow-engine"), base)
	engineAddr := serviceAddr(t, "workflow-engine", engineOut, engineExit)
	agentOut, agentExit := startBinary(t, &running, filepath.Join(bin, "workflow-agent"), base)
	agentAddr := serviceAddr(t, "workflow-agent", agentOut, agentExit)

	// What the agent receives, in the order it arrives.
	var mu sync.Mutex
	var received []http.Header
	agentURL, _ := url.Parse("http://" + agentAddr)
	forward := httputil.NewSingleHostReverseProxy(agentURL)
	recorder := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == workflowagent.GeneratePath {
			mu.Lock()
			received = append(received, r.Header.Clone())
			mu.Unlock()
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(recorder.Close)

	gwOut, gwExit := startBinary(t, &running, filepath.Join(bin, "api-gateway"), append(base, "DATA_DIR="+t.TempDir(),
		"API_KEYS=hop:hop-key-123", "WORKFLOW_AGENT_URL="+recorder.URL, "WORKFLOW_ENGINE_URL=http://"+engineAddr))
	gateway := "http://" + serviceAddr(t, "api-gateway", gwOut, gwExit)
	waitHealthy(t, gateway+"/healthz")

	for _, c := range hopCases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, gateway+"/api/v1/workflows", strings.NewReader(`{"user_id":"u_hop","goal":"check trace context"}`))
			req.Header.Set("Content-Type", "application/json")
			if c.key != "" {
				key := "hop-key-123"
				if c.key == "wrong" {
					key = "not-the-key-000"
				}
				req.Header.Set("Authorization", "Bearer "+key)
			}
			for _, f := range c.fields {
				req.Header[http.CanonicalHeaderKey(f[0])] = append(req.Header[http.CanonicalHeaderKey(f[0])], f[1])
			}
			mu.Lock()
			before := len(received)
			mu.Unlock()
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			trackingID := res.Header.Get(telemetry.HeaderTrackingID)
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d", res.StatusCode, c.status)
			}
			if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(trackingID) || trackingID == strings.Repeat("0", 32) {
				t.Fatalf("X-Tracking-ID %q is not a valid trace id", trackingID)
			}
			if c.traceID == "" && trackingID == hopTraceID {
				t.Errorf("X-Tracking-ID is the caller's trace id %s; want a fresh one", hopTraceID)
			}
			if c.traceID != "" && trackingID != c.traceID {
				t.Errorf("X-Tracking-ID %s, want the continued %s", trackingID, c.traceID)
			}

			mu.Lock()
			got := received[before:]
			mu.Unlock()
			if c.status != http.StatusCreated {
				if len(got) != 0 {
					t.Errorf("the agent was called %d times for a %d", len(got), c.status)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("the agent received %d requests, want 1", len(got))
			}
			h := got[0]
			parents := h.Values("Traceparent")
			if len(parents) != 1 {
				t.Fatalf("the agent received %d traceparent fields: %q", len(parents), parents)
			}
			m := sentTraceparent.FindStringSubmatch(parents[0])
			if m == nil {
				t.Fatalf("the agent received traceparent %q, want version 00 in the W3C grammar", parents[0])
			}
			if m[1] != trackingID {
				t.Errorf("the agent's trace id %s differs from X-Tracking-ID %s", m[1], trackingID)
			}
			if m[2] == "00f067aa0ba902b7" || m[2] == strings.Repeat("0", 16) {
				t.Errorf("parent id %s: want a new one, the gateway's own span", m[2])
			}
			if m[3] != c.flags {
				t.Errorf("flags %s, want %s", m[3], c.flags)
			}
			states := h.Values("Tracestate")
			if c.state == "" && len(states) != 0 {
				t.Errorf("the agent received tracestate %q, want none", states)
			}
			if c.state != "" && (len(states) != 1 || states[0] != c.state) {
				t.Errorf("the agent received tracestate %q, want the one field %q", states, c.state)
			}
		})
	}
}
