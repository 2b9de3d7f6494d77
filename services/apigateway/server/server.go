// Package server is the api-gateway HTTP server: sessions, workflow runs
// (which call the workflow-agent, then the workflow-engine) and API-key auth.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/starmates-ai/ai-teams/catalog"
	"github.com/starmates-ai/ai-teams/internal/httpjson"
	"github.com/starmates-ai/ai-teams/internal/ids"
	"github.com/starmates-ai/ai-teams/internal/serve"
	"github.com/starmates-ai/ai-teams/services/apigateway"
	"github.com/starmates-ai/ai-teams/services/workflowagent"
	"github.com/starmates-ai/ai-teams/services/workflowengine"
	"github.com/starmates-ai/ai-teams/telemetry"
)

// Limits on client input.
const (
	MaxIDLen   = 128
	MaxGoalLen = 4000
	MaxBody    = 64 << 10
)

// Server is the gateway.
type Server struct {
	store   *Store
	keys    *Keys
	agent   *workflowagent.Client
	engine  *workflowengine.Client
	log     *slog.Logger
	metrics *catalog.Metrics
	// downstreamTimeout bounds the agent and engine calls of one request.
	downstreamTimeout time.Duration
}

// New returns a gateway server.
func New(store *Store, keys *Keys, agent *workflowagent.Client, engine *workflowengine.Client, logger *slog.Logger, metrics *telemetry.Metrics) *Server {
	domain, err := catalog.New(metrics.MeterProvider(), metrics.ServiceName())
	if err != nil {
		logger.Warn("domain metric instruments unavailable", "otel_error", err.Error())
	}
	return &Server{store: store, keys: keys, agent: agent, engine: engine, log: logger, metrics: domain,
		downstreamTimeout: DefaultDownstreamTimeout}
}

// setUser puts the request's user on its span, log line and endpoint
// metrics, with the segment of the API key that made the request.
func setUser(ctx context.Context, userID string) {
	key, _ := APIKeyFrom(ctx)
	telemetry.SetUser(ctx, userID, key.Segment)
}

// Routes returns the gateway's routes, without the telemetry middleware;
// /api/ routes require an API key.
func (s *Server) Routes() *http.ServeMux {
	mux := http.NewServeMux()
	api := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.keys.Require(h)) }
	api("POST "+apigateway.SessionsPath, s.createSession)
	api("GET "+apigateway.SessionsPath+"/{id}", s.getSession)
	api("POST "+apigateway.WorkflowsPath, s.createWorkflow)
	api("GET "+apigateway.WorkflowsPath+"/{id}", s.getWorkflow)
	mux.HandleFunc("GET "+apigateway.HealthPath, s.healthz)
	return mux
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.DB().PingContext(ctx); err != nil {
		httpjson.WriteError(w, http.StatusServiceUnavailable, "database_unavailable", "the database does not answer")
		return
	}
	httpjson.Write(w, http.StatusOK, apigateway.Health{Status: "ok", Database: s.store.System()})
}

// validID accepts ids of printable, non-space characters within MaxIDLen.
func validID(field, v string, required bool) error {
	switch {
	case v == "" && required:
		return httpjson.Errorf(http.StatusBadRequest, "missing_field", "%q is required", field)
	case len(v) > MaxIDLen:
		return httpjson.Errorf(http.StatusBadRequest, "invalid_field", "%q is longer than %d bytes", field, MaxIDLen)
	case !utf8.ValidString(v) || strings.IndexFunc(v, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0:
		return httpjson.Errorf(http.StatusBadRequest, "invalid_field", "%q must be printable and without spaces", field)
	}
	return nil
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req apigateway.CreateSessionRequest
	if err := httpjson.Decode(w, r, &req, MaxBody); err != nil {
		httpjson.WriteErr(w, err)
		return
	}
	if err := validID("user_id", req.UserID, true); err != nil {
		httpjson.WriteErr(w, err)
		return
	}
	setUser(ctx, req.UserID)
	s.metrics.UserActivity(ctx, catalog.ActivityCreateSession)
	sess := apigateway.Session{
		ID:         ids.New("sess"),
		UserID:     req.UserID,
		Status:     "active",
		TrackingID: telemetry.TrackingID(ctx),
		CreatedAt:  time.Now().UTC().Truncate(time.Microsecond),
	}
	telemetry.SetSession(ctx, sess.ID)
	if err := s.store.CreateSession(ctx, sess); err != nil {
		s.serverError(ctx, w, "storing session failed", err)
		return
	}
	s.log.InfoContext(ctx, "session created", telemetry.Session(sess.ID), telemetry.User(sess.UserID, ""),
		telemetry.Operation("create_session", "success", 0))
	httpjson.Write(w, http.StatusCreated, sess)
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	if err := validID("id", id, true); err != nil {
		httpjson.WriteErr(w, err)
		return
	}
	sess, err := s.store.GetSession(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		httpjson.WriteError(w, http.StatusNotFound, "not_found", "no session with that id")
		return
	case err != nil:
		s.serverError(ctx, w, "reading session failed", err)
		return
	}
	telemetry.SetSession(ctx, sess.ID)
	setUser(ctx, sess.UserID)
	s.metrics.UserActivity(ctx, catalog.ActivityGetSession)
	httpjson.Write(w, http.StatusOK, sess)
}

func (s *Server) getWorkflow(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	if err := validID("id", id, true); err != nil {
		httpjson.WriteErr(w, err)
		return
	}
	run, err := s.store.GetRun(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		httpjson.WriteError(w, http.StatusNotFound, "not_found", "no workflow run with that id")
		return
	case err != nil:
		s.serverError(ctx, w, "reading workflow run failed", err)
		return
	}
	setUser(ctx, run.UserID)
	s.metrics.UserActivity(ctx, catalog.ActivityGetWorkflow)
	httpjson.Write(w, http.StatusOK, run)
}

func (s *Server) createWorkflow(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	start := time.Now()
	var req apigateway.CreateWorkflowRequest
	if err := httpjson.Decode(w, r, &req, MaxBody); err != nil {
		httpjson.WriteErr(w, err)
		return
	}
	req.Goal = strings.TrimSpace(req.Goal)
	err := errors.Join(validID("user_id", req.UserID, true), validID("session_id", req.SessionID, false))
	switch {
	case err != nil:
		httpjson.WriteErr(w, err)
		return
	case req.Goal == "":
		httpjson.WriteError(w, http.StatusBadRequest, "missing_field", `"goal" is required`)
		return
	case utf8.RuneCountInString(req.Goal) > MaxGoalLen:
		httpjson.WriteError(w, http.StatusBadRequest, "invalid_field", fmt.Sprintf(`"goal" is longer than %d characters`, MaxGoalLen))
		return
	}
	setUser(ctx, req.UserID)
	s.metrics.UserActivity(ctx, catalog.ActivityRunWorkflow)
	if req.SessionID != "" {
		telemetry.SetSession(ctx, req.SessionID)
		sess, err := s.store.GetSession(ctx, req.SessionID)
		switch {
		case errors.Is(err, ErrNotFound):
			httpjson.WriteError(w, http.StatusNotFound, "session_not_found", "no session with that session_id")
			return
		case err != nil:
			s.serverError(ctx, w, "reading session failed", err)
			return
		case sess.UserID != req.UserID:
			httpjson.WriteError(w, http.StatusForbidden, "session_mismatch", "the session belongs to another user")
			return
		}
	}

	run := apigateway.WorkflowRun{
		ID:         ids.New("run"),
		SessionID:  req.SessionID,
		UserID:     req.UserID,
		Goal:       req.Goal,
		TrackingID: telemetry.TrackingID(ctx),
		CreatedAt:  start.UTC().Truncate(time.Microsecond),
		Steps:      []apigateway.StepResult{},
	}
	downstreamErr := s.executeWithin(ctx, req, &run)
	run.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	completed := 0
	for _, st := range run.Steps {
		if st.Status == "completed" {
			completed++
		}
	}
	s.metrics.WorkflowOutcome(ctx, run.WorkflowType, completed, len(run.Steps))
	// The run is stored whole, once, even when a downstream service failed:
	// the row then says why. Also when the request was cancelled (a
	// shutdown): its own bound, not the request's, limits the write.
	storeCtx, cancelStore := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancelStore()
	if err := s.store.CreateRun(storeCtx, run); err != nil {
		s.serverError(ctx, w, "storing workflow run failed", err)
		return
	}
	level, result := slog.LevelInfo, "success"
	if run.Status != workflowengine.StatusCompleted {
		level, result = slog.LevelWarn, run.Status
	}
	attrs := []slog.Attr{
		telemetry.Workflow(run.WorkflowID, run.WorkflowType, run.Status),
		telemetry.Operation("execute_workflow", result, time.Since(start)),
		slog.String("run_id", run.ID),
	}
	if run.Reason != "" {
		attrs = append(attrs, slog.String("reason", run.Reason))
	}
	s.log.LogAttrs(ctx, level, "workflow run "+run.Status, attrs...)
	if downstreamErr != nil {
		f := classifyDownstream(ctx, downstreamErr)
		s.log.ErrorContext(ctx, "downstream service failed", telemetry.Error(downstreamErr, f.code, f.category))
		if f.status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", telemetry.ShedRetryAfter)
		}
		httpjson.WriteError(w, f.status, f.code, fmt.Sprintf("run %s could not be completed: %s", run.ID, run.Reason))
		return
	}
	httpjson.Write(w, http.StatusCreated, run)
}

// storeTimeout bounds the write of a run whose request may be cancelled.
const storeTimeout = 5 * time.Second

// executeWithin is execute with the agent and engine calls bounded together
// by the downstream timeout, so the gateway answers within it.
func (s *Server) executeWithin(ctx context.Context, req apigateway.CreateWorkflowRequest, run *apigateway.WorkflowRun) error {
	ctx, cancel := context.WithTimeout(ctx, s.downstreamTimeout)
	defer cancel()
	return s.execute(ctx, req, run)
}

// downstreamFailure is how the gateway answers a failed downstream call.
type downstreamFailure struct {
	status   int
	code     string
	category string // telemetry.Category*
}

// classifyDownstream maps a downstream error to the answer: 504 when the
// call outlived the downstream timeout, 503 when shutdown cancelled the
// request (another instance can serve the retry), 502 otherwise (refused,
// reset, or an error answer).
func classifyDownstream(ctx context.Context, err error) downstreamFailure {
	switch {
	case errors.Is(context.Cause(ctx), serve.ErrShuttingDown):
		return downstreamFailure{http.StatusServiceUnavailable, "shutting_down", telemetry.CategoryServer}
	case isTimeout(err):
		return downstreamFailure{http.StatusGatewayTimeout, "downstream_timeout", telemetry.CategoryTimeout}
	}
	return downstreamFailure{http.StatusBadGateway, "downstream_unavailable", telemetry.CategoryNetwork}
}

// isTimeout reports a deadline: the request's own, or the client's timeout
// (a net.Error whose Timeout is true).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// execute asks the agent for a plan and the engine to run it, filling run.
// A failure of either service fails the run with its reason and is returned.
func (s *Server) execute(ctx context.Context, req apigateway.CreateWorkflowRequest, run *apigateway.WorkflowRun) error {
	gen, err := s.agent.Generate(ctx, workflowagent.GenerateRequest{Goal: req.Goal, UserID: req.UserID, SessionID: req.SessionID})
	if err != nil {
		run.Status, run.Reason = workflowengine.StatusFailed, "workflow-agent: "+downstreamReason(err)
		return err
	}
	run.WorkflowID, run.WorkflowType = gen.Plan.WorkflowID, gen.Plan.Type
	run.Provider, run.Model = gen.Usage.Provider, gen.Usage.Model
	run.PromptTokens, run.CompletionTokens = gen.Usage.PromptTokens, gen.Usage.CompletionTokens

	steps := make([]workflowengine.Step, len(gen.Plan.Steps))
	actions := make(map[string]string, len(gen.Plan.Steps))
	for i, st := range gen.Plan.Steps {
		steps[i] = workflowengine.Step(st)
		actions[st.ID] = st.Action
	}
	res, err := s.engine.Execute(ctx, workflowengine.ExecuteRequest{WorkflowID: gen.Plan.WorkflowID, WorkflowType: gen.Plan.Type, Steps: steps})
	if err != nil {
		run.Status, run.Reason = workflowengine.StatusFailed, "workflow-engine: "+downstreamReason(err)
		return err
	}
	run.Status, run.Reason = res.Status, res.Reason
	for _, st := range res.Steps {
		run.Steps = append(run.Steps, apigateway.StepResult{ID: st.ID, Name: st.Name, Action: actions[st.ID], Status: st.Status, Error: st.Error, DurationMS: st.DurationMS})
	}
	return nil
}

func downstreamReason(err error) string {
	var re *httpjson.RemoteError
	if errors.As(err, &re) {
		return fmt.Sprintf("%d %s: %s", re.Status, re.Code, re.Message)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case isTimeout(err):
		return "timed out"
	}
	return "unreachable"
}

// serverError logs err (with the request's trace) and answers 500 without
// leaking its text.
func (s *Server) serverError(ctx context.Context, w http.ResponseWriter, msg string, err error) {
	s.log.ErrorContext(ctx, msg, telemetry.Error(err, "internal", telemetry.CategoryServer))
	httpjson.WriteErr(w, err)
}
