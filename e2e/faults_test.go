package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/starmates-ai/ai-teams/services/apigateway"
	"github.com/starmates-ai/ai-teams/services/workflowagent"
	"github.com/starmates-ai/ai-teams/services/workflowengine"
	"github.com/starmates-ai/ai-teams/telemetry"
)

// TestGatewaySIGTERMUnderLoad stops a real api-gateway process with
// requests in flight and a collector that is down (refusing) or hung
// (connections open, never answered): every request gets an answer — those that
// finish within the drain deadline their 201, one stuck on a downstream
// call a 503 — the process exits 0 well within its shutdown budget, and its
// last lines say which telemetry was not delivered.
func TestGatewaySIGTERMUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the api-gateway binary")
	}
	gateway := filepath.Join(t.TempDir(), "api-gateway")
	build := exec.Command("go", "build", "-o", gateway, "./cmd/api-gateway")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, collector := range []struct{ name, addr string }{
		{"collector refusing", refusingAddr(t)},
		{"collector hung", hungAddr(t)},
	} {
		t.Run(collector.name, func(t *testing.T) { sigtermUnderLoad(t, gateway, collector.addr) })
	}
}

// The requests the test holds in flight: these finish within the drain
// deadline (the default SHUTDOWN_TIMEOUT of 1.5 s drains for 1 s); a stuck
// one never would.
const (
	finishingRequests = 3
	finishingAfter    = 500 * time.Millisecond
	stuckGoal         = "never finishes #stuck"
)

type answer struct {
	status     int
	trackingID string
	retryAfter string
	body       []byte
	err        error
}

func sigtermUnderLoad(t *testing.T, gateway, collector string) {
	arrived := make(chan struct{}, finishingRequests+1)
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req workflowagent.GenerateRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		_, _ = io.Copy(io.Discard, r.Body) // net/http notices a caller hanging up only after the body
		arrived <- struct{}{}
		delay := finishingAfter
		if req.Goal == stuckGoal {
			delay = time.Hour
		}
		select {
		case <-time.After(delay): // a slow plan, not a test wait
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(workflowagent.GenerateResponse{Plan: workflowagent.Plan{WorkflowID: "wf_fault", Type: "simple",
			Steps: []workflowagent.Step{{ID: "s1", Name: "fetch", Action: "fetch"}}}})
	}))
	t.Cleanup(agent.Close)
	engine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(workflowengine.ExecuteResponse{WorkflowID: "wf_fault", Status: workflowengine.StatusCompleted,
			Steps: []workflowengine.StepResult{{ID: "s1", Name: "fetch", Status: "completed"}}})
	}))
	t.Cleanup(engine.Close)

	const key = "fault-key-0123456789"
	cmd, out, exited := startSignallable(t, gateway, "ADDR=127.0.0.1:0", "ENVIRONMENT=dev", "LOG_LEVEL=INFO",
		"OTEL_EXPORTER_OTLP_ENDPOINT="+collector, "DATA_DIR="+t.TempDir(), "API_KEYS=fault:"+key,
		"WORKFLOW_AGENT_URL="+agent.URL, "WORKFLOW_ENGINE_URL="+engine.URL)
	base := "http://" + serviceAddr(t, "api-gateway", out, exited)
	waitHealthy(t, base+apigateway.HealthPath)

	goals := []string{stuckGoal}
	for range finishingRequests {
		goals = append(goals, "finishes in time")
	}
	answers := make(chan answer, len(goals))
	client := &http.Client{Timeout: 30 * time.Second}
	for _, goal := range goals {
		go func() { answers <- postGoal(client, base, key, goal) }()
	}
	for range goals {
		select {
		case <-arrived:
		case <-time.After(20 * time.Second):
			t.Fatal("not every request reached the agent")
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("api-gateway still running 20 s after SIGTERM; output:\n%s", out.tail(3000))
	}
	took := time.Since(signalled)
	t.Logf("api-gateway exited %v after SIGTERM", took)
	if took > 4*time.Second {
		t.Errorf("api-gateway took %v to exit; its shutdown budget is 1.5 s", took)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}

	var finished, shed int
	for range goals {
		a := <-answers // each request ends: the client's timeout bounds it
		if a.err != nil {
			t.Errorf("request not answered: %v", a.err)
			continue
		}
		if a.trackingID == "" || !strings.Contains(string(a.body), `"tracking_id":"`+a.trackingID+`"`) {
			t.Errorf("answer %d without its tracking id %q: %s", a.status, a.trackingID, a.body)
		}
		switch {
		case a.status == http.StatusCreated:
			finished++
		case a.status == http.StatusServiceUnavailable && strings.Contains(string(a.body), `"shutting_down"`) && a.retryAfter != "":
			shed++
		default:
			t.Errorf("answer %d (Retry-After %q): %s", a.status, a.retryAfter, a.body)
		}
	}
	if finished != finishingRequests || shed != 1 {
		t.Errorf("%d requests finished and %d were cancelled by the shutdown, want %d and 1", finished, shed, finishingRequests)
	}

	lines := out.lines(t, "api-gateway")
	checkLogLines(t, "api-gateway", lines)
	var report string
	for _, l := range lines[max(len(lines)-3, 0):] {
		if msg, _ := l["message"].(string); strings.Contains(msg, "not delivered") && l["level"] == "WARN" {
			report = msg
		}
	}
	if report == "" {
		t.Errorf("no WARN line saying what was not delivered among the last lines:\n%s", out.tail(2000))
	}
	t.Logf("report: %s", report)
}

func postGoal(client *http.Client, base, key, goal string) answer {
	body, _ := json.Marshal(apigateway.CreateWorkflowRequest{UserID: "u_fault", Goal: goal})
	req, _ := http.NewRequest(http.MethodPost, base+apigateway.WorkflowsPath, strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, trackingID: resp.Header.Get(telemetry.HeaderTrackingID),
		retryAfter: resp.Header.Get("Retry-After"), body: b, err: err}
}

// startSignallable starts bin with env, like startProcess, and returns the
// command so the test can signal it itself.
func startSignallable(t *testing.T, bin string, env ...string) (*exec.Cmd, *lineSink, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	out := &lineSink{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output (tail):\n%s", filepath.Base(bin), out.tail(3000))
		}
	})
	return cmd, out, exited
}

// hungAddr is an address where a listener never accepts: the kernel
// completes the handshake and nothing ever answers, a collector that hangs.
func hungAddr(t *testing.T) string {
	t.Helper()
	ln := httptest.NewUnstartedServer(nil).Listener // never started: nothing accepts
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}
