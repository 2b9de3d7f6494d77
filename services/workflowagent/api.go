// Package workflowagent is the contract of the workflow-agent service: the
// request and response types of POST /generate-workflow and a typed client.
// The server lives in the server subpackage; other services import only this.
package workflowagent

// GeneratePath is the route that turns a goal into a plan.
const GeneratePath = "/generate-workflow"

// GenerateRequest asks for a plan that reaches Goal.
type GenerateRequest struct {
	Goal      string `json:"goal"`
	UserID    string `json:"user_id,omitempty"`
	SessionID string `json:"session_id,omitempty"`
}

// Step is one unit of work the engine will run.
type Step struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Action string `json:"action"`
	Input  string `json:"input,omitempty"`
}

// Plan is the ordered list of steps for one workflow.
type Plan struct {
	WorkflowID string `json:"workflow_id"`
	// Type is simple, complex or ai-assisted (the design guide's workflow.type).
	Type  string `json:"type"`
	Steps []Step `json:"steps"`
}

// Usage reports one LLM call: who served it and how many tokens it took.
type Usage struct {
	Provider         string `json:"provider"`
	Model            string `json:"model"`
	PromptTokens     int    `json:"prompt_tokens"`
	CompletionTokens int    `json:"completion_tokens"`
}

// GenerateResponse is the plan and what producing it cost.
type GenerateResponse struct {
	Plan       Plan   `json:"plan"`
	Usage      Usage  `json:"usage"`
	TrackingID string `json:"tracking_id"`
}
