package catalog

import (
	"context"
	"fmt"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestDomainMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	m, err := New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), "api-gateway")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m.UserActivity(ctx, ActivityRunWorkflow)
	m.UserActivity(ctx, ActivityRunWorkflow)
	m.WorkflowOutcome(ctx, "", 2, 4)
	m.WorkflowOutcome(ctx, "complex", 7, 7)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != ScopeName {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, md := range sm.Metrics {
			switch d := md.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					got[md.Name+fmt.Sprint(p.Attributes.ToSlice())] = fmt.Sprint(p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					got[md.Name+fmt.Sprint(p.Attributes.ToSlice())] = fmt.Sprint(p.Count, " ", p.Sum)
				}
			}
		}
	}
	want := map[string]string{
		`user_activity_total[{"activity_type":"run_workflow"} {"service_name":"api-gateway"}]`: "2",
		`workflow_success_rate[{"complexity_level":"medium"} {"workflow_type":"unknown"}]`:     "1 0.5",
		`workflow_success_rate[{"complexity_level":"high"} {"workflow_type":"complex"}]`:       "1 1",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func TestComplexityLevel(t *testing.T) {
	for steps, want := range map[int]string{0: "low", 3: "low", 4: "medium", 6: "medium", 7: "high", 40: "high"} {
		if got := ComplexityLevel(steps); got != want {
			t.Errorf("ComplexityLevel(%d) = %s, want %s", steps, got, want)
		}
	}
}
