// Package server is the workflow-engine HTTP server: POST /execute runs a
// plan's steps in order, each in its own child span.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/starmates-ai/ai-teams/internal/httpjson"
	"github.com/starmates-ai/ai-teams/services/workflowengine"
	"github.com/starmates-ai/ai-teams/telemetry"
)

// MaxSteps bounds one plan.
const MaxSteps = 50

// Server runs workflows.
type Server struct {
	log    *slog.Logger
	tracer trace.Tracer
	// StepWork is how long a step's simulated work takes; tests set it to 0.
	StepWork time.Duration
}

// DefaultStepWork is how long a step's simulated work takes in the service.
const DefaultStepWork = 2 * time.Millisecond

// New returns an engine server.
func New(logger *slog.Logger, tp trace.TracerProvider) *Server {
	return &Server{log: logger, tracer: tp.Tracer("github.com/starmates-ai/ai-teams/services/workflowengine"), StepWork: DefaultStepWork}
}

// NewHandler builds the engine the way cmd/workflow-engine serves it, and
// the e2e slice tests it: its routes behind the telemetry middleware, each
// step working for stepWork.
func NewHandler(tel *telemetry.Telemetry, stepWork time.Duration) http.Handler {
	s := New(tel.Logger, tel.TracerProvider)
	s.StepWork = stepWork
	return tel.Middleware()(s.Routes())
}

// Routes returns the service's routes, without middleware.
func (s *Server) Routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+workflowengine.ExecutePath, s.execute)
	mux.HandleFunc("GET /healthz", httpjson.Healthy)
	return mux
}

func (s *Server) execute(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req workflowengine.ExecuteRequest
	if err := httpjson.Decode(w, r, &req, 256<<10); err != nil {
		httpjson.WriteErr(w, err)
		return
	}
	switch {
	case req.WorkflowID == "":
		httpjson.WriteError(w, http.StatusBadRequest, "missing_field", `"workflow_id" is required`)
		return
	case len(req.Steps) == 0:
		httpjson.WriteError(w, http.StatusBadRequest, "missing_field", `"steps" must hold at least one step`)
		return
	case len(req.Steps) > MaxSteps:
		httpjson.WriteError(w, http.StatusBadRequest, "invalid_field", fmt.Sprintf(`"steps" holds more than %d steps`, MaxSteps))
		return
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("workflow.id", req.WorkflowID), attribute.Int("workflow.steps", len(req.Steps)))

	start := time.Now()
	resp := s.run(ctx, req)
	resp.TrackingID = telemetry.TrackingID(ctx)

	level, result := slog.LevelInfo, "success"
	if resp.Status != workflowengine.StatusCompleted {
		level, result = slog.LevelWarn, resp.Status
	}
	attrs := []slog.Attr{
		telemetry.Workflow(req.WorkflowID, req.WorkflowType, resp.Status),
		telemetry.Operation("execute_workflow", result, time.Since(start)),
	}
	if resp.Reason != "" {
		attrs = append(attrs, slog.String("reason", resp.Reason))
	}
	s.log.LogAttrs(ctx, level, "workflow "+resp.Status, attrs...)
	httpjson.Write(w, http.StatusOK, resp)
}

// run executes steps in order and stops at the first failure: later steps
// are skipped, and the run is failed if nothing completed, partial otherwise.
func (s *Server) run(ctx context.Context, req workflowengine.ExecuteRequest) workflowengine.ExecuteResponse {
	resp := workflowengine.ExecuteResponse{WorkflowID: req.WorkflowID, Status: workflowengine.StatusCompleted, Steps: make([]workflowengine.StepResult, 0, len(req.Steps))}
	completed := 0
	for i, st := range req.Steps {
		if resp.Reason != "" {
			resp.Steps = append(resp.Steps, workflowengine.StepResult{ID: st.ID, Name: st.Name, Status: "skipped"})
			continue
		}
		res := s.step(ctx, i, st)
		resp.Steps = append(resp.Steps, res)
		if res.Status == "completed" {
			completed++
			continue
		}
		resp.Reason = fmt.Sprintf("step %s (%s) failed: %s", st.ID, st.Name, res.Error)
		if completed == 0 {
			resp.Status = workflowengine.StatusFailed
		} else {
			resp.Status = workflowengine.StatusPartial
		}
	}
	return resp
}

// ErrStepFailed is returned by an action that fails.
var ErrStepFailed = errors.New("step failed")

func (s *Server) step(ctx context.Context, i int, st workflowengine.Step) workflowengine.StepResult {
	ctx, span := s.tracer.Start(ctx, "step "+st.Action, trace.WithAttributes(
		attribute.String("workflow.step.id", st.ID),
		attribute.String("workflow.step.name", st.Name),
		attribute.String("workflow.step.action", st.Action),
		attribute.Int("workflow.step.index", i),
	))
	defer span.End()
	start := time.Now()
	err := s.perform(ctx, st)
	res := workflowengine.StepResult{ID: st.ID, Name: st.Name, Status: "completed", DurationMS: float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		res.Status, res.Error = "failed", err.Error()
		// The ERROR record puts an error_log event, the exception and an
		// Error status on this step's span.
		s.log.ErrorContext(ctx, "workflow step failed", telemetry.Error(err, "step_failed", telemetry.CategoryServer),
			telemetry.Operation("step_"+st.Action, "failure", time.Since(start)),
			slog.String("step_id", st.ID))
	}
	return res
}

// perform does a step's work. The actions are stand-ins for the real tools an
// AI team calls; "fail" always fails, for demos and tests.
func (s *Server) perform(ctx context.Context, st workflowengine.Step) error {
	switch strings.ToLower(st.Action) {
	case "analyze", "research", "draft", "review":
	case "fail":
		if st.Input != "" {
			return fmt.Errorf("%w: %s", ErrStepFailed, st.Input)
		}
		return ErrStepFailed
	default:
		return fmt.Errorf("%w: unknown action %q", ErrStepFailed, st.Action)
	}
	if s.StepWork <= 0 {
		return nil
	}
	t := time.NewTimer(s.StepWork)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
