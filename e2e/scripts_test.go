package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The README promises three things of make demo's scripts: a taken port
// stops the start with a message naming the port and its owner; make
// demo-down stops what was started, by pid; a second make demo reuses the
// builds and the running processes. These tests run the real scripts, with
// AI_TEAMS_RUN_DIR pointing their pid files and logs at a temporary folder.

// runScript runs a bash snippet from the repository root with lib.sh loaded.
func runScript(t *testing.T, runDir, snippet string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", "-c", `set -euo pipefail; source scripts/lib.sh; `+snippet)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "AI_TEAMS_RUN_DIR="+runDir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func TestScriptStartNamesTheBusyPortAndItsOwner(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ss is not installed in CI: make test installs iproute2")
		}
		t.Skip("ss (iproute2) not installed: the message cannot name the owner")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := portOf(ln.Addr().String())
	run := t.TempDir()

	out, err := runScript(t, run, fmt.Sprintf(`start jaeger %q sleep 300`, port))
	if err == nil {
		t.Fatalf("start succeeded on a taken port:\n%s", out)
	}
	owner := fmt.Sprintf("pid=%d", os.Getpid()) // this test binary holds the port
	for _, want := range []string{"port " + port + " is already in use", owner, "make demo-down"} {
		if !strings.Contains(out, want) {
			t.Errorf("message lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(run, "pids", "jaeger.pid")); !os.IsNotExist(err) {
		t.Errorf("a pid file was written for a start that did not happen (%v)", err)
	}
}

func TestScriptDownStopsByPidOnly(t *testing.T) {
	run := t.TempDir()
	// A bystander with the very same command line: stopping by name would take it too.
	bystander := exec.Command("sleep", "300")
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bystander.Process.Kill(); _ = bystander.Wait() })

	if out, err := runScript(t, run, `start jaeger "" sleep 300`); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	pid := readPid(t, filepath.Join(run, "pids", "jaeger.pid"))
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if !alive(pid) {
		t.Fatalf("started process %d is not running", pid)
	}

	cmd := exec.Command("scripts/stack.sh", "down")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "AI_TEAMS_RUN_DIR="+run)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("stack.sh down: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("stopped jaeger (pid %d)", pid); !strings.Contains(string(out), want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	poll(t, 15*time.Second, "the started process gone", func() (bool, string) {
		return !alive(pid), fmt.Sprintf("pid %d still running", pid)
	})
	if !alive(bystander.Process.Pid) {
		t.Error("stack.sh down stopped a process it did not start")
	}
	if _, err := os.Stat(filepath.Join(run, "pids", "jaeger.pid")); !os.IsNotExist(err) {
		t.Errorf("pid file left behind (%v)", err)
	}
}

func TestScriptStartKeepsOneLogPerRun(t *testing.T) {
	run := t.TempDir()
	for i := 1; i <= 2; i++ {
		snippet := fmt.Sprintf(`start jaeger "" sh -c 'echo run-%d; exec sleep 300'`, i)
		if out, err := runScript(t, run, snippet); err != nil {
			t.Fatalf("start %d: %v\n%s", i, err, out)
		}
		pid := readPid(t, filepath.Join(run, "pids", "jaeger.pid"))
		log := filepath.Join(run, "logs", "jaeger.log")
		poll(t, 10*time.Second, "run "+strconv.Itoa(i)+"'s line in the log", func() (bool, string) {
			b, _ := os.ReadFile(log)
			return strings.Contains(string(b), fmt.Sprintf("run-%d", i)), string(b)
		})
		_ = syscall.Kill(pid, syscall.SIGKILL)
		poll(t, 10*time.Second, "run "+strconv.Itoa(i)+" stopped", func() (bool, string) { return !alive(pid), "" })
	}
	current, _ := os.ReadFile(filepath.Join(run, "logs", "jaeger.log"))
	previous, _ := os.ReadFile(filepath.Join(run, "logs", "previous", "jaeger.log"))
	if strings.Contains(string(current), "run-1") || !strings.Contains(string(current), "run-2") {
		t.Errorf("the log holds more than its own run: %q", current)
	}
	if !strings.Contains(string(previous), "run-1") {
		t.Errorf("the earlier run's log was not kept aside: %q", previous)
	}
}

// TestStackSecondDemoReusesEverything runs make demo's script a second time
// against the running stack: it must rebuild nothing, restart nothing, and
// still drive its traffic and print where to look.
func TestStackSecondDemoReusesEverything(t *testing.T) {
	requireStack(t)
	root := repoRoot(t)
	pids := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(root, ".run", "pids", "*.pid"))
	for _, f := range files {
		pids[strings.TrimSuffix(filepath.Base(f), ".pid")] = readPid(t, f)
	}
	if len(pids) < 8 {
		t.Fatalf("only %d components have pid files: %v", len(pids), pids)
	}

	start := time.Now()
	cmd := exec.Command("scripts/demo.sh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DEMO_DETACH=1")
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("second demo: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("== where to look")) {
		t.Errorf("second demo did not print where to look:\n%s", out)
	}
	// The build steps keep their output in .run/logs/build-*.log.
	for log, want := range map[string]string{
		"build-collector.log":    "otelcol-ai-teams is up to date",
		"build-jaeger.log":       "jaeger is up to date",
		"install-prometheus.log": "already installed",
	} {
		b, err := os.ReadFile(filepath.Join(root, ".run", "logs", log))
		if err != nil || !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s lacks %q (%v):\n%s", log, want, err, b)
		}
	}
	for name, pid := range pids {
		if now := readPid(t, filepath.Join(root, ".run", "pids", name+".pid")); now != pid {
			t.Errorf("%s was restarted: pid %d, now %d", name, pid, now)
		}
	}
	measure(t, "second make demo (DEMO_DETACH=1) against the running stack: %v, nothing rebuilt or restarted", took.Round(100*time.Millisecond))
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pid
}

// alive: the process exists and is not a zombie waiting to be reaped.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
