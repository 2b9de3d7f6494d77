package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/starmates-ai/ai-teams/telemetry"
)

// logLines receives each line the server logs: the handler writes a record
// in one Write. Its buffer outlasts the few lines a run logs.
type logLines chan []byte

func (l logLines) Write(p []byte) (int, error) {
	l <- bytes.Clone(p)
	return len(p), nil
}

// runServing starts RunWithin on a free port with h and returns the base
// URL, the function that stops it as a signal would, and its result.
func runServing(t *testing.T, h http.Handler, budget time.Duration) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	logs := make(logLines, 64)
	tel := &telemetry.Telemetry{Logger: slog.New(telemetry.NewHandler(logs, telemetry.HandlerOptions{Service: "test"}))}
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	done := make(chan error, 1)
	go func() { done <- RunWithin(ctx, NewServer("127.0.0.1:0", h, tel.Logger), tel, budget) }()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case raw := <-logs:
			var line struct{ Message, Addr string }
			if json.Unmarshal(raw, &line) == nil && line.Message == "listening" {
				return "http://" + line.Addr, stop, done
			}
		case err := <-done:
			t.Fatalf("RunWithin returned before listening: %v", err)
		case <-timeout:
			t.Fatal("RunWithin did not report its address within 10s")
		}
	}
}

// A request that outlives the drain deadline has its context cancelled
// with ErrShuttingDown, answers, and Run returns cleanly within its budget.
func TestRunCancelsRequestsThatOutliveTheDrain(t *testing.T) {
	entered := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
		if errors.Is(context.Cause(r.Context()), ErrShuttingDown) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	const budget = 600 * time.Millisecond
	base, stop, done := runServing(t, h, budget)

	answered := make(chan int, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(base)
		if err != nil {
			t.Error(err)
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not reach the handler")
	}
	stopped := time.Now()
	stop()
	if status := <-answered; status != http.StatusServiceUnavailable {
		t.Errorf("request in flight at shutdown answered %d, want 503 from a context cancelled with ErrShuttingDown", status)
	}
	select {
	case err := <-done:
		t.Logf("RunWithin returned %v after the stop", time.Since(stopped))
		if err != nil {
			t.Errorf("RunWithin: %v, want nil: the request was answered", err)
		}
	case <-time.After(budget + 5*time.Second):
		t.Fatalf("RunWithin still running %v after the stop; its budget is %v", budget+5*time.Second, budget)
	}
}

// A handler that ignores its context is cut off; Run says so and still
// returns within its budget.
func TestRunCutsOffRequestsThatIgnoreCancellation(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(entered)
		<-release
	})
	const budget = 600 * time.Millisecond
	base, stop, done := runServing(t, h, budget)
	go func() {
		if resp, err := http.Get(base); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not reach the handler")
	}
	stop()
	select {
	case err := <-done:
		if err == nil {
			t.Error("RunWithin returned nil although a request was cut off unanswered")
		}
	case <-time.After(budget + 5*time.Second):
		t.Fatalf("RunWithin still running %v after the stop; its budget is %v", budget+5*time.Second, budget)
	}
}

// PPROF_ADDR serves CPU and heap profiles beside the service, on loopback
// only, and says where in the log.
func TestProfilingOnLoopbackOnly(t *testing.T) {
	t.Setenv("PPROF_ADDR", "127.0.0.1:0")
	logs := make(logLines, 64)
	tel := &telemetry.Telemetry{Logger: slog.New(telemetry.NewHandler(logs, telemetry.HandlerOptions{Service: "test"}))}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- RunWithin(ctx, NewServer("127.0.0.1:0", http.NotFoundHandler(), tel.Logger), tel, time.Second)
	}()
	var pprofAddr string
	for timeout := time.After(10 * time.Second); pprofAddr == ""; {
		select {
		case raw := <-logs:
			var line struct {
				Message   string
				PprofAddr string `json:"pprof_addr"`
			}
			if json.Unmarshal(raw, &line) == nil && line.Message == "profiling" {
				pprofAddr = line.PprofAddr
			}
		case err := <-done:
			t.Fatalf("RunWithin returned: %v", err)
		case <-timeout:
			t.Fatal("no profiling line within 10s")
		}
	}
	res, err := http.Get("http://" + pprofAddr + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("heap profile")) {
		t.Fatalf("heap profile: %d %.200s", res.StatusCode, body)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + pprofAddr + "/debug/pprof/"); err == nil {
		t.Error("the profiling listener outlived the server")
	}

	for _, addr := range []string{"0.0.0.0:0", ":0", "10.0.0.1:6060", "nonsense"} {
		t.Setenv("PPROF_ADDR", addr)
		err := RunWithin(context.Background(), NewServer("127.0.0.1:0", http.NotFoundHandler(), tel.Logger), tel, time.Second)
		if err == nil || !strings.Contains(err.Error(), "PPROF_ADDR") {
			t.Errorf("PPROF_ADDR=%s: want a refusal naming PPROF_ADDR, got %v", addr, err)
		}
	}
}
