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
	for _, f := range []string{"jaeger.pid", "jaeger.id"} {
		if _, err := os.Stat(filepath.Join(run, "pids", f)); !os.IsNotExist(err) {
			t.Errorf("%s left behind (%v)", f, err)
		}
	}
}

// A pid file can outlive its process, and the pid go to an unrelated one.
// stop must then leave that process alone, say the pid file is stale and
// remove it; running must not count it. Three ways a pid file can be stale:
// the start time recorded next to it differs, the boot differs, or (a pid
// file written before these records existed) the pid file is older than the
// process that has the pid now.
func TestScriptStopLeavesAReusedPidAlone(t *testing.T) {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Skipf("no /proc boot id: %v", err)
	}
	for _, tc := range []struct {
		name string
		id   func(pid int) string // NAME.id's content; "" for none
	}{
		{"another start time", func(int) string {
			return fmt.Sprintf("boot=%s\nstart=1\ncmd=sleep 300\n", strings.TrimSpace(string(boot)))
		}},
		{"another boot", func(pid int) string {
			return fmt.Sprintf("boot=00000000-0000-0000-0000-000000000000\nstart=%s\ncmd=sleep 300\n", startTime(t, pid))
		}},
		{"no record, pid file older than the process", func(int) string { return "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := t.TempDir()
			// Not ours: started by this test, with the very command start would run.
			stranger := exec.Command("sleep", "300")
			if err := stranger.Start(); err != nil {
				t.Fatal(err)
			}
			pid := stranger.Process.Pid
			t.Cleanup(func() { _ = stranger.Process.Kill(); _ = stranger.Wait() })

			pids := filepath.Join(run, "pids")
			if err := os.MkdirAll(pids, 0o755); err != nil {
				t.Fatal(err)
			}
			pidFile := filepath.Join(pids, "jaeger.pid")
			if err := os.WriteFile(pidFile, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if id := tc.id(pid); id != "" {
				if err := os.WriteFile(filepath.Join(pids, "jaeger.id"), []byte(id), 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				old := time.Now().Add(-time.Hour)
				if err := os.Chtimes(pidFile, old, old); err != nil {
					t.Fatal(err)
				}
			}

			out, err := runScript(t, run, `if running jaeger; then echo "running: yes"; else echo "running: no"; fi; stop jaeger`)
			if err != nil {
				t.Fatalf("stop: %v\n%s", err, out)
			}
			want := fmt.Sprintf("pid %d is no longer jaeger (now: sleep 300); removing the stale pid file", pid)
			for _, w := range []string{"running: no", want} {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "stopped jaeger") {
				t.Errorf("stop claims to have stopped a process it did not start:\n%s", out)
			}
			// kill(2) queues the signal before it returns, so a signal sent by
			// stop is pending now or has already ended the process: no waiting.
			if !alive(pid) {
				t.Fatalf("stop ended pid %d, which it did not start", pid)
			}
			if sig := pendingSignals(t, pid); sig&(1<<(int(syscall.SIGTERM)-1)|1<<(int(syscall.SIGKILL)-1)) != 0 {
				t.Errorf("pid %d has a SIGTERM or SIGKILL pending (mask %#x)", pid, sig)
			}
			for _, f := range []string{"jaeger.pid", "jaeger.id"} {
				if _, err := os.Stat(filepath.Join(pids, f)); !os.IsNotExist(err) {
					t.Errorf("stale %s left behind (%v)", f, err)
				}
			}
		})
	}
}

// A pid file written before start recorded what identifies its process
// (no NAME.id, as a stack started by an older checkout leaves) still stops
// that process: it started before the pid file was written.
func TestScriptStopsAProcessFromAPidFileWithoutRecord(t *testing.T) {
	run := t.TempDir()
	proc := exec.Command("sleep", "300")
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	pid := proc.Process.Pid
	t.Cleanup(func() { _ = proc.Process.Kill(); _ = proc.Wait() })
	pids := filepath.Join(run, "pids")
	if err := os.MkdirAll(pids, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pids, "jaeger.pid"), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runScript(t, run, `running jaeger && echo "running: yes"; stop jaeger`)
	if err != nil {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	for _, w := range []string{"running: yes", fmt.Sprintf("stopped jaeger (pid %d)", pid)} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	poll(t, 15*time.Second, "the process gone", func() (bool, string) {
		return !alive(pid), fmt.Sprintf("pid %d still running", pid)
	})
}

// safe_rm_rf removes a path only where it is ours: inside the run directory
// (AI_TEAMS_RUN_DIR) or a directory marked by mark_ours. The refusals run
// with rm replaced by a shell function that only reports its call, so a
// broken guard cannot remove anything here.
func TestScriptSafeRmRfRemovesOnlyOurs(t *testing.T) {
	run := t.TempDir()
	outside := t.TempDir() // not in the run directory, no marker
	if err := os.WriteFile(filepath.Join(outside, "precious"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	linkOut := filepath.Join(run, "link-out")
	if err := os.Symlink(outside, linkOut); err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		name  string
		paths []string
	}{
		{"empty", []string{""}},
		{"root", []string{"/"}},
		{"relative", []string{"test-report"}},
		{"the repository", []string{repoRoot(t)}},
		{"above the repository", []string{filepath.Dir(repoRoot(t))}},
		{"the run directory itself", []string{run}},
		{"outside the run directory", []string{outside}},
		{"a link out of the run directory", []string{linkOut}},
		{"ending in ..", []string{filepath.Join(run, "pids") + "/.."}},
		// All are checked before any is removed.
		{"one of two outside", []string{filepath.Join(run, "logs"), outside}},
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		refused = append(refused, struct {
			name  string
			paths []string
		}{"$HOME", []string{home}})
	}
	for _, tc := range refused {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			args := make([]string, len(tc.paths))
			for i, p := range tc.paths {
				args[i] = shellQuote(p)
			}
			snippet := `rm() { echo "rm called: $*"; }; safe_rm_rf ` + strings.Join(args, " ")
			out, err := runScript(t, run, snippet)
			if err == nil {
				t.Errorf("safe_rm_rf %q succeeded:\n%s", tc.paths, out)
			}
			if !strings.Contains(out, "safe_rm_rf: refusing to remove") || strings.Contains(out, "rm called") {
				t.Errorf("safe_rm_rf %q: want a refusal and no rm:\n%s", tc.paths, out)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(outside, "precious")); err != nil {
		t.Errorf("a file outside the run directory is gone: %v", err)
	}

	t.Run("removes inside the run directory", func(t *testing.T) {
		report := filepath.Join(run, "test-report")
		if err := os.MkdirAll(filepath.Join(report, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(report, "sub", "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := runScript(t, run, `safe_rm_rf `+shellQuote(report)+` "$RUN/measurements.txt"`); err != nil {
			t.Fatalf("safe_rm_rf inside the run directory: %v\n%s", err, out)
		}
		if _, err := os.Stat(report); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", report, err)
		}
	})
	t.Run("removes a directory marked as ours", func(t *testing.T) {
		scratch := filepath.Join(t.TempDir(), "scratch")
		snippet := `mkdir -p ` + shellQuote(scratch) + `; mark_ours ` + shellQuote(scratch) + `; safe_rm_rf ` + shellQuote(scratch)
		if out, err := runScript(t, run, snippet); err != nil {
			t.Fatalf("safe_rm_rf on a marked directory: %v\n%s", err, out)
		}
		if _, err := os.Stat(scratch); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", scratch, err)
		}
	})
}

// shellQuote quotes s for bash.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// startTime: field 22 of /proc/PID/stat, the process's start in clock ticks since boot.
func startTime(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 20 {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	return fields[19] // fields[0] is field 3
}

// pendingSignals: the signals pending for PID (its thread's and the process's), as a mask.
func pendingSignals(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var mask uint64
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "SigPnd" && k != "ShdPnd") {
			continue
		}
		m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		mask |= m
	}
	return mask
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
