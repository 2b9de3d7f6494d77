// Package server is the workflow-agent HTTP server: POST /generate-workflow
// turns a goal into a plan through an LLM.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/starmates-ai/ai-teams/internal/httpjson"
	"github.com/starmates-ai/ai-teams/internal/ids"
	"github.com/starmates-ai/ai-teams/services/workflowagent"
	"github.com/starmates-ai/ai-teams/telemetry"
)

// MaxGoalLen bounds the goal text, in characters.
const MaxGoalLen = 4000

// Server plans workflows.
type Server struct {
	llm     LLM
	log     *slog.Logger
	tracer  trace.Tracer
	metrics *telemetry.Metrics
}

// New returns a server planning with llm; metrics gets each LLM call's
// tokens and cost.
func New(llm LLM, logger *slog.Logger, tp trace.TracerProvider, metrics *telemetry.Metrics) *Server {
	return &Server{llm: llm, log: logger, tracer: tp.Tracer("github.com/starmates-ai/ai-teams/services/workflowagent"), metrics: metrics}
}

// Routes returns the service's routes, without middleware.
func (s *Server) Routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+workflowagent.GeneratePath, s.generate)
	mux.HandleFunc("GET /healthz", httpjson.Healthy)
	return mux
}

func (s *Server) generate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req workflowagent.GenerateRequest
	if err := httpjson.Decode(w, r, &req, 64<<10); err != nil {
		httpjson.WriteErr(w, err)
		return
	}
	req.Goal = strings.TrimSpace(req.Goal)
	switch {
	case req.Goal == "":
		httpjson.WriteError(w, http.StatusBadRequest, "missing_field", `"goal" is required`)
		return
	case utf8.RuneCountInString(req.Goal) > MaxGoalLen:
		httpjson.WriteError(w, http.StatusBadRequest, "invalid_field", fmt.Sprintf(`"goal" is longer than %d characters`, MaxGoalLen))
		return
	}
	if req.UserID != "" {
		telemetry.SetUser(ctx, req.UserID, "")
	}
	if req.SessionID != "" {
		telemetry.SetSession(ctx, req.SessionID)
	}

	plan, usage, err := s.plan(ctx, req.Goal)
	if err != nil {
		s.log.ErrorContext(ctx, "planning failed", telemetry.Error(err, "llm_unavailable", telemetry.CategoryNetwork),
			telemetry.Operation("generate_workflow", "failure", 0))
		httpjson.WriteError(w, http.StatusBadGateway, "llm_unavailable", "the planning model failed; retry later")
		return
	}
	s.log.InfoContext(ctx, "workflow planned",
		telemetry.Workflow(plan.WorkflowID, plan.Type, "planned"),
		telemetry.Operation("generate_workflow", "success", 0),
		slog.Group("ai", slog.String("provider", usage.Provider), slog.String("model", usage.Model),
			slog.Int("prompt_tokens", usage.PromptTokens), slog.Int("completion_tokens", usage.CompletionTokens)))
	httpjson.Write(w, http.StatusOK, workflowagent.GenerateResponse{Plan: plan, Usage: usage, TrackingID: telemetry.TrackingID(ctx)})
}

// plan asks the LLM inside a span carrying the GenAI semantic-convention
// attributes, then shapes its answer into a Plan.
func (s *Server) plan(ctx context.Context, goal string) (workflowagent.Plan, workflowagent.Usage, error) {
	usage := workflowagent.Usage{Provider: s.llm.Provider(), Model: s.llm.Model()}
	ctx, span := s.tracer.Start(ctx, "chat "+usage.Model, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.system", usage.Provider),
			attribute.String("gen_ai.provider.name", usage.Provider),
			attribute.String("gen_ai.request.model", usage.Model),
		))
	defer span.End()

	c, err := s.llm.Complete(ctx, systemPrompt, goal)
	cost := s.metrics.RecordAI(ctx, telemetry.AIUsage{Provider: usage.Provider, Model: usage.Model, InputTokens: c.PromptTokens, OutputTokens: c.CompletionTokens})
	span.SetAttributes(attribute.Float64("gen_ai.usage.cost_usd", cost))
	if err == nil {
		var steps []planStep
		steps, err = parsePlan(c.Text)
		if err == nil {
			usage.PromptTokens, usage.CompletionTokens = c.PromptTokens, c.CompletionTokens
			span.SetAttributes(
				attribute.Int("gen_ai.usage.input_tokens", c.PromptTokens),
				attribute.Int("gen_ai.usage.output_tokens", c.CompletionTokens),
			)
			return buildPlan(steps, usage.Provider), usage, nil
		}
	}
	if !errors.Is(err, ErrProvider) {
		err = fmt.Errorf("%w: %v", ErrProvider, err)
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
	span.SetAttributes(attribute.String("error.type", "provider_error"))
	return workflowagent.Plan{}, usage, err
}

func buildPlan(steps []planStep, provider string) workflowagent.Plan {
	p := workflowagent.Plan{WorkflowID: ids.New("wf"), Steps: make([]workflowagent.Step, len(steps))}
	for i, st := range steps {
		p.Steps[i] = workflowagent.Step{ID: fmt.Sprintf("step-%d", i+1), Name: st.Name, Action: st.Action, Input: st.Input}
	}
	switch {
	case provider != "builtin":
		p.Type = "ai-assisted"
	case len(steps) > 4:
		p.Type = "complex"
	default:
		p.Type = "simple"
	}
	return p
}
