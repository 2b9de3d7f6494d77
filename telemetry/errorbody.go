package telemetry

import (
	"encoding/json"
	"net/http"
)

// ErrorBody is the JSON shape of every error response, whoever writes it:
// the middleware (404, 405, 431, a recovered panic) or a handler.
//
//	{"error":{"code":"not_found","message":"..."},"tracking_id":"<32 hex>"}
type ErrorBody struct {
	Error      ErrorDetail `json:"error"`
	TrackingID string      `json:"tracking_id"`
}

// ErrorDetail says what went wrong in words a client can act on.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteError sends the standard error body with status. The tracking id is
// read from the X-Tracking-ID header the middleware set before the handler
// ran, so a handler needs no context to quote it.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	body, _ := json.Marshal(ErrorBody{
		Error:      ErrorDetail{Code: code, Message: message},
		TrackingID: w.Header().Get(HeaderTrackingID),
	})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
