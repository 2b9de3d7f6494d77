// Package catalog holds AI-Teams' domain metrics — what users do and how
// workflow runs turn out — beside the generic instrumentation in telemetry.
// Its instruments are created on the service's meter provider, so they are
// exported with the telemetry ones; telemetry.MetricViews gives its
// counters the same exemplar handling.
package catalog

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ScopeName is the instrumentation scope of the catalog's instruments.
const ScopeName = "github.com/starmates-ai/ai-teams/catalog"

// Metric names, from the design guide.
const (
	MetricUserActivity    = "user_activity_total"
	MetricWorkflowSuccess = "workflow_success_rate"
)

// WorkflowSuccessBuckets are workflow_success_rate's bounds, from the design guide.
var WorkflowSuccessBuckets = []float64{0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1}

// Activity types of user_activity_total.
const (
	ActivityCreateSession = "create_session"
	ActivityGetSession    = "get_session"
	ActivityRunWorkflow   = "run_workflow"
	ActivityGetWorkflow   = "get_workflow"
)

// unknownLabelValue stands in for an empty label value.
const unknownLabelValue = "unknown"

// Metrics records the domain metrics of one service. Its instruments are
// unexported and each method sets its complete label set, so no stray
// attribute (a user id) can become a label.
type Metrics struct {
	service   attribute.KeyValue
	activity  metric.Int64Counter
	workflows metric.Float64Histogram
}

// New creates the catalog's instruments for service on mp. On error the
// returned Metrics still works, recording nothing for the instruments that
// failed.
func New(mp metric.MeterProvider, service string) (*Metrics, error) {
	meter := mp.Meter(ScopeName)
	m := &Metrics{service: attribute.String("service_name", service)}
	var errActivity, errWorkflows error
	m.activity, errActivity = meter.Int64Counter(MetricUserActivity, metric.WithDescription("User activity events by type"))
	m.workflows, errWorkflows = meter.Float64Histogram(MetricWorkflowSuccess,
		metric.WithDescription("Share of a workflow's steps that completed, per run"),
		metric.WithExplicitBucketBoundaries(WorkflowSuccessBuckets...))
	return m, errors.Join(errActivity, errWorkflows)
}

// UserActivity counts one user action. The user is on the span and the
// log line; only the kind of action is a label.
func (m *Metrics) UserActivity(ctx context.Context, activityType string) {
	m.activity.Add(ctx, 1, metric.WithAttributes(attribute.String("activity_type", activityType), m.service))
}

// WorkflowOutcome records the share of a run's steps that completed.
func (m *Metrics) WorkflowOutcome(ctx context.Context, workflowType string, completed, total int) {
	if workflowType == "" {
		workflowType = unknownLabelValue
	}
	ratio := 0.0
	if total > 0 {
		ratio = float64(completed) / float64(total)
	}
	m.workflows.Record(ctx, ratio, metric.WithAttributes(attribute.String("workflow_type", workflowType),
		attribute.String("complexity_level", ComplexityLevel(total))))
}

// ComplexityLevel buckets a plan's size: low (≤3 steps), medium (≤6), high.
func ComplexityLevel(steps int) string {
	switch {
	case steps <= 3:
		return "low"
	case steps <= 6:
		return "medium"
	default:
		return "high"
	}
}
