package workflowengine

import (
	"context"
	"net/http"
	"strings"

	"github.com/starmates-ai/ai-teams/internal/httpjson"
)

// Client calls a workflow-engine over HTTP. Give it a client built with
// telemetry.HTTPClient so the trace crosses the hop.
type Client struct {
	baseURL string
	hc      *http.Client
}

// NewClient returns a client for the engine at baseURL (e.g. http://127.0.0.1:8082).
func NewClient(baseURL string, hc *http.Client) *Client {
	return &Client{baseURL: strings.TrimRight(baseURL, "/"), hc: hc}
}

// Execute runs a plan on the engine. A non-2xx answer is a *httpjson.RemoteError.
func (c *Client) Execute(ctx context.Context, req ExecuteRequest) (*ExecuteResponse, error) {
	var out ExecuteResponse
	if err := httpjson.Post(ctx, c.hc, c.baseURL+ExecutePath, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
