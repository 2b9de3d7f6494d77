package httpjson

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/starmates-ai/ai-teams/telemetry"
)

// RemoteError is a non-2xx answer from another service, decoded from its
// standard error body when it has one.
type RemoteError struct {
	URL        string
	Status     int
	Code       string
	Message    string
	TrackingID string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("%s answered %d %s: %s", e.URL, e.Status, e.Code, e.Message)
}

// maxResponse bounds what a client reads from another service.
const maxResponse = 8 << 20

// Post sends in as JSON to url and decodes a 2xx answer into out.
func Post(ctx context.Context, hc *http.Client, url string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	_, err = Do(hc, req, out)
	return err
}

// Do sends req and decodes a 2xx JSON answer into out. It returns the
// answer's headers whenever the service answered, also with the error of a
// non-2xx answer, which is a *RemoteError.
func Do(hc *http.Client, req *http.Request, out any) (http.Header, error) {
	url := req.URL.String()
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return resp.Header, fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		re := &RemoteError{URL: url, Status: resp.StatusCode, TrackingID: resp.Header.Get(telemetry.HeaderTrackingID)}
		var eb telemetry.ErrorBody
		if json.Unmarshal(raw, &eb) == nil && eb.Error.Code != "" {
			re.Code, re.Message = eb.Error.Code, eb.Error.Message
		} else {
			re.Code, re.Message = "http_error", http.StatusText(resp.StatusCode)
		}
		return resp.Header, re
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return resp.Header, fmt.Errorf("decoding answer from %s: %w", url, err)
	}
	return resp.Header, nil
}
