// Package workflowengine is the contract of the workflow-engine service: the
// request and response types of POST /execute and a typed client. The server
// lives in the server subpackage; other services import only this.
package workflowengine

// ExecutePath is the route that runs a plan.
const ExecutePath = "/execute"

// Run statuses.
const (
	StatusCompleted = "completed"
	StatusPartial   = "partial" // some steps completed before one failed
	StatusFailed    = "failed"  // no step completed
)

// Step is one unit of work to run.
type Step struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Action string `json:"action"`
	Input  string `json:"input,omitempty"`
}

// ExecuteRequest runs Steps in order for one workflow.
type ExecuteRequest struct {
	WorkflowID   string `json:"workflow_id"`
	WorkflowType string `json:"workflow_type,omitempty"`
	Steps        []Step `json:"steps"`
}

// StepResult is what happened to one step.
type StepResult struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Status     string  `json:"status"` // completed, failed, skipped
	Error      string  `json:"error,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// ExecuteResponse is the outcome of the run; Reason explains a failed or
// partial run.
type ExecuteResponse struct {
	WorkflowID string       `json:"workflow_id"`
	Status     string       `json:"status"`
	Reason     string       `json:"reason,omitempty"`
	Steps      []StepResult `json:"steps"`
	TrackingID string       `json:"tracking_id"`
}
