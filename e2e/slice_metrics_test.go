package e2e

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// point is one data point of any kind, flattened for assertions.
type point struct {
	metric    string
	attrs     map[string]string
	value     float64
	exemplars []string // trace ids, hex
}

func (s *slice) collect(t *testing.T, service string) []point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := s.metrics[service].Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var out []point
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				out = append(out, sumPoints(m.Name, d.DataPoints)...)
			case metricdata.Sum[float64]:
				out = append(out, sumPoints(m.Name, d.DataPoints)...)
			case metricdata.Gauge[float64]:
				out = append(out, sumPoints(m.Name, d.DataPoints)...)
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					out = append(out, point{m.Name, attrsOf(dp.Attributes), float64(dp.Count), exemplarIDs(dp.Exemplars)})
				}
			}
		}
	}
	return out
}

func sumPoints[N int64 | float64](name string, dps []metricdata.DataPoint[N]) []point {
	out := make([]point, 0, len(dps))
	for _, dp := range dps {
		out = append(out, point{name, attrsOf(dp.Attributes), float64(dp.Value), exemplarIDs(dp.Exemplars)})
	}
	return out
}

func attrsOf(set attribute.Set) map[string]string {
	m := map[string]string{}
	for _, kv := range set.ToSlice() {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

func exemplarIDs[N int64 | float64](es []metricdata.Exemplar[N]) []string {
	var ids []string
	for _, e := range es {
		ids = append(ids, hex.EncodeToString(e.TraceID))
	}
	return ids
}

func find(points []point, metric string, want map[string]string) *point {
	for i, p := range points {
		if p.metric != metric {
			continue
		}
		match := true
		for k, v := range want {
			if p.attrs[k] != v {
				match = false
			}
		}
		if match {
			return &points[i]
		}
	}
	return nil
}

// forbiddenLabels must never be metric attributes (conventions: identity rules).
var forbiddenLabels = []string{"tracking_id", "trace_id", "user_id", "user.id", "session_id", "session.id", "path", "url.path", "api_key"}

// checkMetrics checks the catalog after the whole slice ran; exemplars are
// checked right after the first request, in checkExemplar.
func checkMetrics(t *testing.T, s *slice) {
	all := map[string][]point{}
	for _, svc := range []string{"api-gateway", "workflow-agent", "workflow-engine"} {
		all[svc] = s.collect(t, svc)
		for _, p := range all[svc] {
			for _, f := range forbiddenLabels {
				if _, ok := p.attrs[f]; ok {
					t.Errorf("%s %s has label %s", svc, p.metric, f)
				}
			}
		}
	}
	gw := all["api-gateway"]
	rc := find(gw, "request_count", map[string]string{"service_name": "api-gateway", "endpoint": "/api/v1/workflows", "method": "POST", "status_code": "201", "api_version": "v1"})
	if rc == nil {
		t.Fatalf("no request_count for POST /api/v1/workflows 201: %v", gw)
	}
	if p := find(gw, "request_errors_total", map[string]string{"error_type": "validation", "status_code": "400"}); p == nil {
		t.Error("no request_errors_total for the 400s")
	}
	if p := find(gw, "request_errors_total", map[string]string{"error_type": "auth", "status_code": "401"}); p == nil {
		t.Error("no request_errors_total for the 401s")
	}
	if p := find(gw, "api_key_usage_total", map[string]string{"client_name": "e2e", "success": "true", "endpoint": "/api/v1/workflows"}); p == nil || len(p.attrs["api_key_id"]) != 8 || strings.Contains(p.attrs["api_key_id"], testKey) {
		t.Errorf("api_key_usage_total: %+v", p)
	}
	if p := find(gw, "api_key_usage_total", map[string]string{"api_key_id": "invalid", "success": "false"}); p == nil {
		t.Error("a wrong key is not counted as api_key_id=invalid")
	}
	if p := find(gw, "user_activity_total", map[string]string{"activity_type": "run_workflow", "service_name": "api-gateway"}); p == nil {
		t.Error("no user_activity_total run_workflow")
	}
	if p := find(gw, "endpoint_usage_total", map[string]string{"endpoint": "/api/v1/workflows", "api_version": "v1", "user_segment": "premium"}); p == nil {
		t.Error("no endpoint_usage_total with the key's segment")
	}
	if p := find(gw, "workflow_success_rate", map[string]string{"workflow_type": "simple", "complexity_level": "low"}); p == nil {
		t.Error("no workflow_success_rate")
	}
	if p := find(gw, "active_requests", map[string]string{"endpoint": "/api/v1/workflows"}); p == nil || p.value != 0 {
		t.Errorf("active_requests after the requests finished: %+v", p)
	}
	ag := all["workflow-agent"]
	if p := find(ag, "ai_requests_total", map[string]string{"model": "rule-planner-v1", "provider": "builtin"}); p == nil || p.value < 1 {
		t.Errorf("ai_requests_total %+v", p)
	}
	for _, tt := range []string{"input", "output"} {
		if p := find(ag, "ai_tokens_total", map[string]string{"model": "rule-planner-v1", "token_type": tt}); p == nil || p.value <= 0 {
			t.Errorf("ai_tokens_total %s: %+v", tt, p)
		}
	}
	if p := find(ag, "ai_cost_total", map[string]string{"model": "rule-planner-v1"}); p == nil {
		t.Error("no ai_cost_total")
	}
	for svc, pts := range all {
		if p := find(pts, "service_uptime_seconds", map[string]string{"service_name": svc}); p == nil || p.value <= 0 {
			t.Errorf("%s heartbeat %+v", svc, p)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// checkExemplar runs right after the first request of its series: the SDK
// keeps a sample of measurements per series (GOMAXPROCS of them), so only
// the first measurement since the last collection is certain to be one.
func checkExemplar(t *testing.T, s *slice, tid string) {
	t.Helper()
	for _, metric := range []string{"request_count", "request_duration_seconds"} {
		p := find(s.collect(t, "api-gateway"), metric, map[string]string{"endpoint": "/api/v1/workflows", "method": "POST"})
		if p == nil || !contains(p.exemplars, tid) {
			t.Errorf("trace %s is not an exemplar of %s: %+v", tid, metric, p)
		}
	}
}
