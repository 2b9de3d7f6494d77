// Package apigateway is the contract of the api-gateway: the public request
// and response types and a typed client. The server, store and auth live in
// the server subpackage.
package apigateway

import "time"

// Routes of the public API; the ids of sessions and runs follow the
// collection path ("/api/v1/sessions/{id}").
const (
	SessionsPath  = "/api/v1/sessions"
	WorkflowsPath = "/api/v1/workflows"
	HealthPath    = "/healthz"
)

// Health is the answer of GET /healthz while the database answers.
type Health struct {
	Status   string `json:"status"`
	Database string `json:"database"` // sqlite or postgresql
}

// CreateSessionRequest is the body of POST /api/v1/sessions.
type CreateSessionRequest struct {
	UserID string `json:"user_id"`
}

// Session is a user's working session.
type Session struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Status     string    `json:"status"`
	TrackingID string    `json:"tracking_id"`
	CreatedAt  time.Time `json:"created_at"`
}

// CreateWorkflowRequest is the body of POST /api/v1/workflows.
type CreateWorkflowRequest struct {
	UserID    string `json:"user_id"`
	SessionID string `json:"session_id,omitempty"`
	Goal      string `json:"goal"`
}

// StepResult is one step of a run.
type StepResult struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Action     string  `json:"action"`
	Status     string  `json:"status"`
	Error      string  `json:"error,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// WorkflowRun is the outcome of POST /api/v1/workflows, as stored.
type WorkflowRun struct {
	ID               string       `json:"id"`
	WorkflowID       string       `json:"workflow_id"`
	SessionID        string       `json:"session_id,omitempty"`
	UserID           string       `json:"user_id"`
	Goal             string       `json:"goal"`
	WorkflowType     string       `json:"workflow_type"`
	Status           string       `json:"status"` // completed, partial, failed
	Reason           string       `json:"reason,omitempty"`
	Steps            []StepResult `json:"steps"`
	Provider         string       `json:"provider"`
	Model            string       `json:"model"`
	PromptTokens     int          `json:"prompt_tokens"`
	CompletionTokens int          `json:"completion_tokens"`
	TrackingID       string       `json:"tracking_id"`
	CreatedAt        time.Time    `json:"created_at"`
	DurationMS       float64      `json:"duration_ms"`
}
