// Package apigateway is the contract of the api-gateway: the public request
// and response types. The server, store and auth live in the server
// subpackage.
package apigateway

import "time"

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
