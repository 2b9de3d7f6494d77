package apigateway_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/starmates-ai/ai-teams/internal/httpjson"
	"github.com/starmates-ai/ai-teams/services/apigateway"
	"github.com/starmates-ai/ai-teams/services/apigateway/server"
	agent "github.com/starmates-ai/ai-teams/services/workflowagent/server"
	engine "github.com/starmates-ai/ai-teams/services/workflowengine/server"
	"github.com/starmates-ai/ai-teams/telemetry"
)

const testKey = "client-test-key"

var trackingIDFormat = regexp.MustCompile(`^[0-9a-f]{32}$`)

// gatewayUnderTest is the real gateway, agent and engine in-process, built
// by the functions their commands use; the agent can be stopped.
type gatewayUnderTest struct {
	url   string
	agent *httptest.Server
}

func startGateway(t *testing.T) gatewayUnderTest {
	t.Helper()
	tel := func(name string) *telemetry.Telemetry {
		tel, err := telemetry.Setup(context.Background(), telemetry.Config{ServiceName: name, Disabled: true, LogWriter: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		return tel
	}
	eng := httptest.NewServer(engine.NewHandler(tel("workflow-engine"), 0))
	t.Cleanup(eng.Close)
	agentHandler, err := agent.NewHandler(agent.Config{}, tel("workflow-agent"))
	if err != nil {
		t.Fatal(err)
	}
	ag := httptest.NewServer(agentHandler)
	t.Cleanup(ag.Close)
	gw, err := server.Open(context.Background(), server.Config{
		APIKeys: "test:" + testKey, DataDir: t.TempDir(), AgentURL: ag.URL, EngineURL: eng.URL,
	}, tel("api-gateway"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	srv := httptest.NewServer(gw.Handler)
	t.Cleanup(srv.Close)
	return gatewayUnderTest{url: srv.URL, agent: ag}
}

func TestClientCallsEveryRoute(t *testing.T) {
	gw := startGateway(t)
	c := apigateway.NewClient(gw.url+"/", testKey, nil)
	ctx := context.Background()
	seen := map[string]bool{} // every call's tracking id is its own
	ownID := func(what, tid string) {
		t.Helper()
		if !trackingIDFormat.MatchString(tid) || seen[tid] {
			t.Errorf("%s: tracking id %q is not a new 32-hex id", what, tid)
		}
		seen[tid] = true
	}

	health, tid, err := c.Health(ctx)
	if err != nil || health.Status != "ok" || health.Database != "sqlite" {
		t.Fatalf("health: %+v %v", health, err)
	}
	ownID("health", tid)

	sess, tid, err := c.CreateSession(ctx, apigateway.CreateSessionRequest{UserID: "u_client"})
	if err != nil || sess.UserID != "u_client" || sess.Status != "active" || sess.TrackingID != tid || !strings.HasPrefix(sess.ID, "sess") {
		t.Fatalf("create session: %+v (tracking id %s) %v", sess, tid, err)
	}
	ownID("create session", tid)

	read, tid, err := c.GetSession(ctx, sess.ID)
	if err != nil || read.ID != sess.ID || read.TrackingID != sess.TrackingID || !read.CreatedAt.Equal(sess.CreatedAt) {
		t.Fatalf("get session: %+v %v, want %+v", read, err, sess)
	}
	ownID("get session", tid)

	run, tid, err := c.CreateWorkflow(ctx, apigateway.CreateWorkflowRequest{UserID: "u_client", SessionID: sess.ID, Goal: "summarise the report"})
	if err != nil || run.Status != "completed" || run.TrackingID != tid || run.SessionID != sess.ID || len(run.Steps) == 0 || run.Steps[0].Action == "" {
		t.Fatalf("create workflow: %+v (tracking id %s) %v", run, tid, err)
	}
	ownID("create workflow", tid)

	stored, tid, err := c.GetWorkflow(ctx, run.ID)
	if err != nil || stored.ID != run.ID || stored.Status != run.Status || len(stored.Steps) != len(run.Steps) || stored.TrackingID != run.TrackingID {
		t.Fatalf("get workflow: %+v %v, want %+v", stored, err, run)
	}
	ownID("get workflow", tid)
}

func TestClientErrorsCarryStatusCodeAndTrackingID(t *testing.T) {
	gw := startGateway(t)
	c := apigateway.NewClient(gw.url, testKey, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		call   func() (answered bool, trackingID string, err error)
		status int
		code   string
	}{
		{"unknown session", func() (bool, string, error) { return outcome(c.GetSession(ctx, "sess_nope")) }, 404, "not_found"},
		{"unknown run", func() (bool, string, error) { return outcome(c.GetWorkflow(ctx, "run_nope")) }, 404, "not_found"},
		// Escaped, the id reaches the handler whole, which refuses the space.
		{"id with a space and a slash", func() (bool, string, error) { return outcome(c.GetSession(ctx, "sess x/y")) }, 400, "invalid_field"},
		{"missing goal", func() (bool, string, error) {
			return outcome(c.CreateWorkflow(ctx, apigateway.CreateWorkflowRequest{UserID: "u"}))
		}, 400, "missing_field"},
		{"unknown session of a run", func() (bool, string, error) {
			return outcome(c.CreateWorkflow(ctx, apigateway.CreateWorkflowRequest{UserID: "u", Goal: "g", SessionID: "sess_nope"}))
		}, 404, "session_not_found"},
		{"no key", func() (bool, string, error) {
			return outcome(apigateway.NewClient(gw.url, "", nil).CreateSession(ctx, apigateway.CreateSessionRequest{UserID: "u"}))
		}, 401, "unauthorized"},
		{"wrong key", func() (bool, string, error) {
			return outcome(apigateway.NewClient(gw.url, "not-"+testKey, nil).GetSession(ctx, "sess_x"))
		}, 401, "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answeredValue, tid, err := tc.call()
			var answered *httpjson.RemoteError
			if !errors.As(err, &answered) || answered.Status != tc.status || answered.Code != tc.code || answered.Message == "" {
				t.Fatalf("got %v, want %d %s", err, tc.status, tc.code)
			}
			if !trackingIDFormat.MatchString(tid) || answered.TrackingID != tid {
				t.Errorf("tracking id returned %q, in the error %q", tid, answered.TrackingID)
			}
			if !strings.HasPrefix(answered.URL, gw.url+"/api/v1/") {
				t.Errorf("error names %s", answered.URL)
			}
			if answeredValue {
				t.Error("a failed call returned a value")
			}
		})
	}

	// A downstream failure: the run is stored, the answer is a 502 naming it.
	gw.agent.Close()
	_, tid, err := c.CreateWorkflow(ctx, apigateway.CreateWorkflowRequest{UserID: "u", Goal: "g"})
	var answered *httpjson.RemoteError
	if !errors.As(err, &answered) || answered.Status != http.StatusBadGateway || answered.Code != "downstream_unavailable" ||
		!strings.Contains(answered.Message, "workflow-agent") || answered.TrackingID != tid || tid == "" {
		t.Errorf("agent down: %v (tracking id %q)", err, tid)
	}
}

func TestClientUnreachableGateway(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	_, tid, err := apigateway.NewClient(srv.URL, testKey, nil).Health(context.Background())
	var answered *httpjson.RemoteError
	if err == nil || errors.As(err, &answered) || tid != "" {
		t.Errorf("closed port: %v, tracking id %q; want a transport error and no tracking id", err, tid)
	}
}

// outcome keeps of a call whether it returned a value, its tracking id and
// its error.
func outcome[T any](v *T, trackingID string, err error) (bool, string, error) {
	return v != nil, trackingID, err
}
