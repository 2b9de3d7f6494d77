package apigateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/starmates-ai/ai-teams/internal/httpjson"
)

// Client calls the gateway's public API with one API key. Every method
// returns the tracking id of its own request (the X-Tracking-ID header),
// which is the trace id to look the request up by. A non-2xx answer is a
// *httpjson.RemoteError carrying the status, the error code and that same
// tracking id.
type Client struct {
	baseURL string
	apiKey  string
	hc      *http.Client
}

// NewClient returns a client for the gateway at baseURL (e.g.
// http://127.0.0.1:8080) that authenticates with apiKey; an empty key sends
// none. A nil hc is http.DefaultClient; give it one built with
// telemetry.HTTPClient to continue the caller's trace.
func NewClient(baseURL, apiKey string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{baseURL: strings.TrimRight(baseURL, "/"), apiKey: apiKey, hc: hc}
}

// CreateSession starts a session for req.UserID.
func (c *Client) CreateSession(ctx context.Context, req CreateSessionRequest) (sess *Session, trackingID string, err error) {
	return call[Session](ctx, c, http.MethodPost, SessionsPath, req)
}

// GetSession reads a session. Its TrackingID is the one of the request that
// created it; trackingID is this read's.
func (c *Client) GetSession(ctx context.Context, id string) (sess *Session, trackingID string, err error) {
	return call[Session](ctx, c, http.MethodGet, SessionsPath+"/"+url.PathEscape(id), nil)
}

// CreateWorkflow plans and runs a workflow and returns the stored run. A run
// that a downstream service failed is stored too, but answered with a 502
// error, not a run.
func (c *Client) CreateWorkflow(ctx context.Context, req CreateWorkflowRequest) (run *WorkflowRun, trackingID string, err error) {
	return call[WorkflowRun](ctx, c, http.MethodPost, WorkflowsPath, req)
}

// GetWorkflow reads a stored run by its id (WorkflowRun.ID).
func (c *Client) GetWorkflow(ctx context.Context, id string) (run *WorkflowRun, trackingID string, err error) {
	return call[WorkflowRun](ctx, c, http.MethodGet, WorkflowsPath+"/"+url.PathEscape(id), nil)
}

// Health asks whether the gateway and its database answer; a database that
// does not is a 503 error.
func (c *Client) Health(ctx context.Context) (health *Health, trackingID string, err error) {
	return call[Health](ctx, c, http.MethodGet, HealthPath, nil)
}

// call sends in (nil: no body) to path and decodes a 2xx answer into a new
// T. A failed call returns no T, so a caller never reads a half-filled one,
// but keeps the tracking id whenever the gateway answered.
func call[T any](ctx context.Context, c *Client, method, path string, in any) (*T, string, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, "", err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, body)
	if err != nil {
		return nil, "", err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	out := new(T)
	hdr, err := httpjson.Do(c.hc, req, out)
	trackingID := hdr.Get("X-Tracking-ID")
	if err != nil {
		return nil, trackingID, err
	}
	return out, trackingID, nil
}
