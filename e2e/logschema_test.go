package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/starmates-ai/ai-teams/internal/lookup"
)

func checkLogLines(t *testing.T, who string, lines []map[string]any) {
	t.Helper()
	for i, l := range lines {
		if err := lookup.CheckLogLine(l); err != nil {
			t.Errorf("%s line %d: %v: %v", who, i+1, err, l)
		}
	}
}

// TestStackLogSchema checks every line the stack's services wrote during
// this test run against the schema, after sending its own requests of each
// kind (completed, partly failed, failed, rejected, unrouted), whose lines
// must be among them.
func TestStackLogSchema(t *testing.T) {
	key := requireStack(t)
	var own []string
	for _, goal := range []string{"schema check", "schema check #partial", "schema check #fail"} {
		tid, _ := postWorkflow(t, key, goal)
		own = append(own, tid)
	}
	_, hdr := gatewayCall(t, "wrong-key", "GET", "/api/v1/sessions/sess_x", "", http.StatusUnauthorized)
	own = append(own, hdr.Get("X-Tracking-ID"))
	_, hdr = gatewayCall(t, key, "GET", "/no/such/route", "", http.StatusNotFound)
	own = append(own, hdr.Get("X-Tracking-ID"))

	poll(t, 10*time.Second, "the gateway's lines for this test's requests", func() (bool, string) {
		seen := map[any]bool{}
		for _, l := range stackLogLines(t, "api-gateway") {
			seen[l["tracking_id"]] = true
		}
		for _, tid := range own {
			if !seen[tid] {
				return false, "no line with " + tid
			}
		}
		return true, ""
	})
	for _, svc := range stackServices {
		lines := stackLogLines(t, svc)
		if len(lines) == 0 {
			t.Errorf("%s wrote no lines during this run", svc)
		}
		checkLogLines(t, svc, lines)
		t.Logf("%s: %d lines of this run checked", svc, len(lines))
	}
}
