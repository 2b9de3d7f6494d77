package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"
)

var (
	timestampRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)
	traceIDRe   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	spanIDRe    = regexp.MustCompile(`^[0-9a-f]{16}$`)
)

// checkLogLine validates one decoded log line against the CloudWatch schema.
func checkLogLine(l map[string]any) error {
	ts, _ := l["@timestamp"].(string)
	if !timestampRe.MatchString(ts) {
		return fmt.Errorf("@timestamp %q is not UTC millisecond RFC 3339", l["@timestamp"])
	}
	switch l["@level"] {
	case "DEBUG", "INFO", "WARN", "ERROR":
	default:
		return fmt.Errorf("@level %v", l["@level"])
	}
	if _, ok := l["@message"].(string); !ok {
		return fmt.Errorf("@message missing")
	}
	if s, _ := l["service"].(string); s == "" {
		return fmt.Errorf("service missing")
	}
	tid, hasTID := l["tracking_id"]
	tr, hasTracing := l["tracing"].(map[string]any)
	if hasTID != hasTracing {
		return fmt.Errorf("tracking_id and tracing must come together")
	}
	if hasTID {
		if s, _ := tid.(string); !traceIDRe.MatchString(s) || s == "00000000000000000000000000000000" {
			return fmt.Errorf("tracking_id %v", tid)
		}
		if tr["trace_id"] != tid {
			return fmt.Errorf("tracing.trace_id %v != tracking_id %v", tr["trace_id"], tid)
		}
		if s, _ := tr["span_id"].(string); !spanIDRe.MatchString(s) {
			return fmt.Errorf("tracing.span_id %v", tr["span_id"])
		}
	}
	for _, obj := range []string{"request", "response", "user", "session", "workflow", "operation", "error", "exception", "source"} {
		if v, ok := l[obj]; ok {
			if _, isObj := v.(map[string]any); !isObj {
				return fmt.Errorf("%s is not an object: %v", obj, v)
			}
		}
	}
	if n := leafCount(l); n >= 1000 {
		return fmt.Errorf("%d fields", n)
	}
	return nil
}

func leafCount(v any) int {
	if m, ok := v.(map[string]any); ok {
		n := 0
		for _, c := range m {
			n += leafCount(c)
		}
		return n
	}
	return 1
}

func checkLogLines(t *testing.T, who string, lines []map[string]any) {
	t.Helper()
	for i, l := range lines {
		if err := checkLogLine(l); err != nil {
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
