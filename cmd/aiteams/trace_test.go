package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starmates-ai/ai-teams/internal/lookup"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// The fixtures are internal/lookup's: one "#partial" workflow recorded from make demo.
const (
	fixtureID     = "3baabea8d60db8b7452a19e93a06543b"
	fixtureTrace  = "../../internal/lookup/testdata/jaeger-trace.json"
	fixtureLogs   = "../../internal/lookup/testdata/logs.jsonl"
	fixtureRunRow = "run_8508446c762435b3"
)

func fixtureReport(t *testing.T) traceReport {
	t.Helper()
	body, err := os.ReadFile(fixtureTrace)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := lookup.ParseJaegerTrace(body, fixtureID)
	if err != nil {
		t.Fatal(err)
	}
	logs, _, err := lookup.SearchLogs([]string{fixtureLogs}, fixtureID)
	if err != nil {
		t.Fatal(err)
	}
	return traceReport{
		TrackingID: fixtureID, Trace: tr, Logs: logs,
		Rows: []lookup.Row{{Table: "workflow_runs", Columns: []string{"id", "session_id", "status", "tracking_id"},
			Values: map[string]any{"id": fixtureRunRow, "session_id": nil, "status": "partial", "tracking_id": fixtureID}}},
		Looked: []lookedAt{{Source: "jaeger", Where: "http://jaeger/api/traces/" + fixtureID, Found: 9, Unit: "spans"}},
	}
}

func TestWaterfallGolden(t *testing.T) {
	var out bytes.Buffer
	renderReport(&out, fixtureReport(t), noColors)
	golden := filepath.Join("testdata", "trace.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Errorf("waterfall differs from %s (go test ./cmd/aiteams -run Golden -update rewrites it):\n%s", golden, out.String())
	}
}

// TestWaterfallPlacesEachLineUnderItsSpan checks the structure the golden
// file only shows: every log line sits under the span that wrote it, after
// that span's row and before the next span that is not its descendant.
func TestWaterfallPlacesEachLineUnderItsSpan(t *testing.T) {
	rep := fixtureReport(t)
	var out bytes.Buffer
	renderReport(&out, rep, noColors)
	lines := strings.Split(out.String(), "\n")
	row := func(substr string) int {
		for i, l := range lines {
			if strings.Contains(l, substr) {
				return i
			}
		}
		t.Fatalf("no line with %q:\n%s", substr, out.String())
		return -1
	}
	stepFail := row("step fail  ✗ ERROR: workflow step failed")
	for _, want := range []string{"event error_log: workflow step failed", "event exception: *fmt.wrapError", "log ERROR workflow step failed"} {
		if i := row(want); i <= stepFail || i > stepFail+3 {
			t.Errorf("%q at line %d, want right under the failed step (line %d)", want, i, stepFail)
		}
	}
	if insert, partial := row("INSERT workflow_runs"), row("log WARN  workflow run partial"); partial <= insert {
		t.Errorf("the gateway's last line (%d) comes before its last child span (%d)", partial, insert)
	}
	if len(rep.Logs) != strings.Count(out.String(), " log ") {
		t.Errorf("%d log lines found, %d shown", len(rep.Logs), strings.Count(out.String(), " log "))
	}
	for _, l := range lines {
		if strings.Contains(l, "\x1b[") {
			t.Fatalf("escape codes without colours: %q", l)
		}
	}
	var colored bytes.Buffer
	renderReport(&colored, rep, palette{red: "<red>", yellow: "<yellow>", dim: "<dim>", bold: "<bold>", reset: "</>"})
	if !strings.Contains(colored.String(), "<red>") || !strings.Contains(colored.String(), "<red>event error_log") {
		t.Errorf("errors are not highlighted:\n%s", colored.String())
	}
}

func TestTraceCommand(t *testing.T) {
	body, err := os.ReadFile(fixtureTrace)
	if err != nil {
		t.Fatal(err)
	}
	var misses atomic.Int32
	misses.Store(2) // the first two answers: not there yet
	jaeger := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/traces/"+fixtureID && misses.Add(-1) < 0 {
			w.Write(body)
			return
		}
		http.Error(w, `{"errors":[{"code":404,"msg":"trace not found"}]}`, http.StatusNotFound)
	}))
	defer jaeger.Close()
	noDB := t.TempDir()
	common := []string{"--jaeger", jaeger.URL, "--logs", fixtureLogs, "--data-dir", noDB}

	t.Run("found after waiting", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		code := run(append(append([]string{"trace"}, common...), "--wait", "10s", "--json", fixtureID), &stdout, &stderr)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		var rep traceReport
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("--json output: %v\n%s", err, stdout.String())
		}
		if rep.Trace == nil || len(rep.Trace.Spans) != 9 || len(rep.Logs) != 7 || len(rep.Looked) != 3 || rep.Looked[2].Error == "" {
			t.Errorf("report %+v", rep)
		}
	})
	t.Run("not there", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		missing := strings.Repeat("1", 32)
		code := run(append(append([]string{"trace"}, common...), "--wait", "600ms", missing), &stdout, &stderr)
		msg := stderr.String()
		if code != 1 || !strings.Contains(msg, "tracking id "+missing+" not found after") ||
			!strings.Contains(msg, jaeger.URL) || !strings.Contains(msg, fixtureLogs) || !strings.Contains(msg, "no database at") {
			t.Errorf("exit %d, stderr %q", code, msg)
		}
		if waited := strings.Split(strings.SplitAfter(msg, "not found after ")[1], ":")[0]; waited == "0s" {
			t.Errorf("did not wait: %q", msg)
		}
	})
	t.Run("malformed id", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		code := run([]string{"trace", "not-an-id"}, &stdout, &stderr)
		if code != 2 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "not a tracking id") || stdout.Len() != 0 {
			t.Errorf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
		}
	})
	t.Run("Jaeger unreachable", func(t *testing.T) {
		down := httptest.NewServer(http.NotFoundHandler())
		down.Close()
		var stdout, stderr bytes.Buffer
		start := time.Now()
		code := run([]string{"trace", "--jaeger", down.URL, "--logs", fixtureLogs, "--data-dir", noDB, "--wait", "30s", fixtureID}, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "Jaeger unreachable") || !strings.Contains(stdout.String(), "WARN  workflow run partial") {
			t.Errorf("exit %d, stderr %q, stdout %q", code, stderr.String(), stdout.String())
		}
		if time.Since(start) > 20*time.Second {
			t.Errorf("waited %v for an unreachable Jaeger: a refused connection is not a trace still on its way", time.Since(start))
		}
	})
	t.Run("help", func(t *testing.T) {
		for _, args := range [][]string{{"trace", "--help"}, {"help", "trace"}, {"--help"}} {
			var stdout, stderr bytes.Buffer
			if code := run(args, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "aiteams trace") {
				t.Errorf("%v: exit %d, stdout %q", args, code, stdout.String())
			}
		}
		var stdout, stderr bytes.Buffer
		if code := run([]string{"tarce"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `unknown command "tarce"`) {
			t.Errorf("unknown command: exit %d, %q", code, stderr.String())
		}
	})
}
