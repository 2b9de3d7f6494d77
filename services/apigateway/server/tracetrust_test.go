package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/starmates-ai/ai-teams/services/apigateway"
	"github.com/starmates-ai/ai-teams/telemetry"
)

// The gateway continues the trace of a caller with a valid key only: a
// caller without one (answered 401) or with a wrong one gets a tracking id
// of the gateway's own, with the SDK on and with OTEL_SDK_DISABLED=true.
func TestGatewayContinuesOnlyTrustedTraces(t *testing.T) {
	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	const callerParent = "00-" + callerTrace + "-00f067aa0ba902b7-01"
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)

	disabled := func(t *testing.T) *telemetry.Telemetry {
		tel, err := telemetry.Setup(context.Background(), telemetry.Config{ServiceName: "api-gateway", Disabled: true, LogWriter: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
		return tel
	}
	recorded := func(t *testing.T) *telemetry.Telemetry { return recordedTelemetry(t, tracetest.NewSpanRecorder()) }

	for _, tel := range []struct {
		name string
		new  func(*testing.T) *telemetry.Telemetry
	}{{"sdk on", recorded}, {"sdk disabled", disabled}} {
		for _, tc := range []struct {
			name      string
			key       string
			status    int
			continued bool
		}{
			{"no key", "", http.StatusUnauthorized, false},
			{"wrong key", "not-the-key", http.StatusUnauthorized, false},
			{"valid key", downstreamTestKey, http.StatusCreated, true},
		} {
			t.Run(tel.name+"/"+tc.name, func(t *testing.T) {
				var mu sync.Mutex
				var downstreamParents []string
				agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					downstreamParents = append(downstreamParents, r.Header.Get("traceparent"))
					mu.Unlock()
					w.Header().Set("Content-Type", "application/json")
					_, _ = io.Copy(io.Discard, r.Body)
					_ = json.NewEncoder(w).Encode(stubPlan)
				}))
				t.Cleanup(agent.Close)
				gw, err := Open(context.Background(), Config{
					APIKeys: "test:" + downstreamTestKey, DataDir: t.TempDir(),
					AgentURL: agent.URL, EngineURL: stubService(t, 0, stubResult),
				}, tel.new(t))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { gw.Close() })
				srv := httptest.NewServer(gw.Handler)
				t.Cleanup(srv.Close)

				req, _ := http.NewRequest(http.MethodPost, srv.URL+apigateway.WorkflowsPath, strings.NewReader(`{"user_id":"u1","goal":"plan a trip"}`))
				req.Header.Set("traceparent", callerParent)
				if tc.key != "" {
					req.Header.Set("Authorization", "Bearer "+tc.key)
				}
				resp, err := testClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				tid := resp.Header.Get(telemetry.HeaderTrackingID)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
				}
				if !hex32.MatchString(tid) || tid == strings.Repeat("0", 32) {
					t.Fatalf("tracking id %q", tid)
				}
				if (tid == callerTrace) != tc.continued {
					t.Errorf("tracking id %s; the caller's trace continued should be %v", tid, tc.continued)
				}
				if !strings.Contains(string(body), tid) && tc.status != http.StatusCreated {
					t.Errorf("error body does not quote the tracking id %s: %s", tid, body)
				}
				mu.Lock()
				defer mu.Unlock()
				for _, p := range downstreamParents {
					if !strings.HasPrefix(p, "00-"+tid+"-") {
						t.Errorf("agent received traceparent %q, want trace %s", p, tid)
					}
				}
			})
		}
	}
}
