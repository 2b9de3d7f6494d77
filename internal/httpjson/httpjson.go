// Package httpjson writes JSON responses and decodes JSON request bodies
// strictly. Error bodies are telemetry's (telemetry.ErrorBody): the
// middleware writes the same shape for the errors it answers itself.
package httpjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/starmates-ai/ai-teams/telemetry"
)

// DefaultMaxBody is the request body limit used when a handler names none.
const DefaultMaxBody = 1 << 20

// Error is a client-facing failure with its HTTP status.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Write sends v as JSON with the given status.
func Write(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "encode_failed", "the response could not be encoded")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// WriteError sends the standard error body (telemetry.WriteError).
func WriteError(w http.ResponseWriter, status int, code, message string) {
	telemetry.WriteError(w, status, code, message)
}

// WriteErr sends err: an *Error keeps its status and code, anything else is
// a 500 whose details stay in the logs, not in the response.
func WriteErr(w http.ResponseWriter, err error) {
	var e *Error
	if errors.As(err, &e) {
		WriteError(w, e.Status, e.Code, e.Message)
		return
	}
	WriteError(w, http.StatusInternalServerError, "internal", "internal error; quote the tracking_id when reporting it")
}

// Decode reads exactly one JSON object from r's body into dst, rejecting
// unknown fields, trailing data, wrong content types and bodies over
// maxBytes (0 means DefaultMaxBody). The returned error is an *Error with a
// 4xx status. The Content-Type is not enforced: the body must parse as JSON
// whatever it claims (curl -d sends form encoding by default).
func Decode(w http.ResponseWriter, r *http.Request, dst any, maxBytes int64) error {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBody
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, maxBytes)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return decodeError(err, maxBytes)
		}
		return Errorf(http.StatusBadRequest, "invalid_json", "the body must hold a single JSON object")
	}
	return nil
}

func decodeError(err error, maxBytes int64) *Error {
	var (
		syntax  *json.SyntaxError
		typ     *json.UnmarshalTypeError
		tooBig  *http.MaxBytesError
		invalid *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &tooBig):
		return Errorf(http.StatusRequestEntityTooLarge, "body_too_large", "the body exceeds %d bytes", maxBytes)
	case errors.Is(err, io.EOF):
		return Errorf(http.StatusBadRequest, "empty_body", "the body is empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(http.StatusBadRequest, "invalid_json", "the body ends in the middle of a JSON value")
	case errors.As(err, &syntax):
		return Errorf(http.StatusBadRequest, "invalid_json", "malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return Errorf(http.StatusBadRequest, "invalid_field", "field %q must be a %s", field, typ.Type.String())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return Errorf(http.StatusBadRequest, "unknown_field", "%s", strings.TrimPrefix(err.Error(), "json: "))
	case errors.As(err, &invalid): // a programming error, not bad input
		return Errorf(http.StatusInternalServerError, "internal", "the request could not be decoded")
	}
	return Errorf(http.StatusBadRequest, "invalid_json", "the body could not be read as JSON")
}

// Healthy answers a liveness probe: {"status":"ok"}.
func Healthy(w http.ResponseWriter, _ *http.Request) {
	Write(w, http.StatusOK, map[string]string{"status": "ok"})
}
