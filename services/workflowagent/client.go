package workflowagent

import (
	"context"
	"net/http"
	"strings"

	"github.com/starmates-ai/ai-teams/internal/httpjson"
)

// Client calls a workflow-agent over HTTP. Give it a client built with
// telemetry.HTTPClient so the trace crosses the hop.
type Client struct {
	baseURL string
	hc      *http.Client
}

// NewClient returns a client for the agent at baseURL (e.g. http://127.0.0.1:8081).
func NewClient(baseURL string, hc *http.Client) *Client {
	return &Client{baseURL: strings.TrimRight(baseURL, "/"), hc: hc}
}

// Generate asks the agent for a plan. A non-2xx answer is a *httpjson.RemoteError.
func (c *Client) Generate(ctx context.Context, req GenerateRequest) (*GenerateResponse, error) {
	var out GenerateResponse
	if err := httpjson.Post(ctx, c.hc, c.baseURL+GeneratePath, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
