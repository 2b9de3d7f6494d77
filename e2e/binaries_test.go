package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/starmates-ai/ai-teams/services/apigateway"
	"github.com/starmates-ai/ai-teams/services/workflowengine"
)

// TestBinariesStartWithoutCollector builds the three commands, starts them
// as processes with default settings and no collector listening, and
// checks they serve a workflow and log JSON lines carrying its tracking id.
func TestBinariesStartWithoutCollector(t *testing.T) {
	bin := buildCommands(t, "./cmd/...")
	// A collector that is down: the port is held by the test, connections are closed at once.
	deadOTLP := refusingAddr(t)
	var running sync.WaitGroup
	t.Cleanup(running.Wait) // registered first, so it runs after every process was signalled
	base := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + deadOTLP, "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "ADDR=127.0.0.1:0"}
	engineOut, engineExit := startBinary(t, &running, filepath.Join(bin, "workflow-engine"), base)
	en := serviceAddr(t, "workflow-engine", engineOut, engineExit)
	agentOut, agentExit := startBinary(t, &running, filepath.Join(bin, "workflow-agent"), base)
	ag := serviceAddr(t, "workflow-agent", agentOut, agentExit)
	gwOut, gwExit := startBinary(t, &running, filepath.Join(bin, "api-gateway"), append(base, "DATA_DIR="+t.TempDir(),
		"API_KEYS=bin:bin-key-123", "WORKFLOW_AGENT_URL=http://"+ag, "WORKFLOW_ENGINE_URL=http://"+en))
	gw := serviceAddr(t, "api-gateway", gwOut, gwExit)

	for _, addr := range []string{en, ag, gw} {
		waitHealthy(t, "http://"+addr+"/healthz")
	}
	start := time.Now()
	run, tid, err := apigateway.NewClient("http://"+gw, "bin-key-123", nil).CreateWorkflow(context.Background(),
		apigateway.CreateWorkflowRequest{UserID: "u_bin", Goal: "check the binaries"})
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != workflowengine.StatusCompleted {
		t.Fatalf("run %+v", run)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Logf("note: request took %v with no collector", d)
	}
	for name, out := range map[string]*lineSink{"api-gateway": gwOut, "workflow-agent": agentOut, "workflow-engine": engineOut} {
		// A process's stdout reaches the sink through a pipe copier, which
		// may lag behind the HTTP response: wait for the line.
		poll(t, 10*time.Second, name+" logs a line with tracking id "+tid, func() (bool, string) {
			for _, l := range out.lines(t, name) {
				if l["tracking_id"] == tid {
					return true, ""
				}
			}
			return false, "no such line yet"
		})
		checkLogLines(t, name, out.lines(t, name))
	}
}

// buildCommands builds the packages' commands into a temporary directory
// and returns it; with -short the test is skipped instead.
func buildCommands(t *testing.T, pkgs ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds binaries")
	}
	bin := t.TempDir()
	build := exec.Command("go", append([]string{"build", "-o", bin + "/"}, pkgs...)...)
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startBinary starts path; at cleanup it sends SIGINT (all processes stop
// in parallel) and running.Wait waits for the graceful shutdowns.
func startBinary(t *testing.T, running *sync.WaitGroup, path string, env []string) (*lineSink, <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, path)
	cmd.Env = env
	out := &lineSink{}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	running.Add(1)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		go func() {
			defer running.Done()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				cancel()
				<-done
			}
			cancel()
		}()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(path), stderr.String())
		}
	})
	return out, done
}

func waitHealthy(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal(fmt.Sprintf("%s not healthy: %v", url, err))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
