package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// With nothing listening on the OTLP port, Setup must return at once and
// the service must keep working; Shutdown returns by its deadline.
func TestSetupWithoutCollector(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close() // nothing listens there now

	logs := &syncBuffer{}
	start := time.Now()
	tel, err := Setup(context.Background(), Config{ServiceName: "svc", Environment: EnvStaging, OTLPEndpoint: deadAddr, LogWriter: logs})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Setup blocked for %v without a collector", d)
	}
	ctx, span := tel.Tracer().Start(context.Background(), "work")
	tel.Logger.InfoContext(ctx, "hello")
	span.End()

	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = tel.Shutdown(sctx) // fails (nothing to export to) but must return
	if sctx.Err() != nil && time.Since(start) > 10*time.Second {
		t.Error("Shutdown did not respect its deadline")
	}
	var found bool
	for _, l := range logs.lines(t) {
		if l["message"] == "hello" {
			found = true
			if l["tracking_id"] != span.SpanContext().TraceID().String() {
				t.Errorf("tracking_id %v, want %s", l["tracking_id"], span.SpanContext().TraceID())
			}
		}
	}
	if !found {
		t.Error("log line missing from stdout handler")
	}
}

func TestSetupRejectsUnknownEnvironment(t *testing.T) {
	_, err := Setup(context.Background(), Config{ServiceName: "svc", Environment: "qa"})
	if err == nil || !strings.Contains(err.Error(), "dev, staging, prod") {
		t.Fatalf("want a clear error, got %v", err)
	}
}

func TestExportErrorsReportedOnce(t *testing.T) {
	logs := &syncBuffer{}
	h := newOnceErrorHandler(slog.New(NewHandler(logs, HandlerOptions{Service: "s"})), time.Hour)
	for range 100 {
		h.Handle(errors.New("connection refused"))
	}
	if n := len(logs.lines(t)); n != 1 {
		t.Errorf("100 export errors produced %d log lines, want 1", n)
	}
}

func TestEndpointParsing(t *testing.T) {
	for raw, want := range map[string]struct {
		hp       string
		insecure bool
	}{
		"localhost:4317":             {"localhost:4317", true},
		"http://collector:4317":      {"collector:4317", true},
		"https://otlp.example:4317/": {"otlp.example:4317", false},
	} {
		hp, insecure := endpoint(raw)
		if hp != want.hp || insecure != want.insecure {
			t.Errorf("%s → %s %v, want %s %v", raw, hp, insecure, want.hp, want.insecure)
		}
	}
}
