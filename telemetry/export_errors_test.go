package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// exportErrorReports returns the log lines the OTel error handler wrote.
func exportErrorReports(t *testing.T, logs *syncBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range logs.lines(t) {
		if _, ok := l["otel_error"]; ok {
			out = append(out, l)
		}
	}
	return out
}

// The handler Setup installs, with a clock the test steps: the README
// promises at most one line a minute, and waiting a minute is no test.
func TestSetupReportsExportErrorsAtMostOncePerMinute(t *testing.T) {
	logs := &syncBuffer{}
	// Disabled: no exporter of its own reports errors while the test runs.
	tel, err := Setup(context.Background(), Config{ServiceName: "svc", Disabled: true, LogWriter: logs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	h, ok := otel.GetErrorHandler().(*onceErrorHandler)
	if !ok {
		t.Fatalf("Setup installed %T as the OTel error handler, want *onceErrorHandler", otel.GetErrorHandler())
	}
	start := time.Date(2026, 1, 31, 10, 30, 0, 0, time.UTC)
	now := start
	h.now = func() time.Time { return now }

	for i := range 100 {
		otel.Handle(fmt.Errorf("export %d: connection refused", i))
	}
	reports := exportErrorReports(t, logs)
	if len(reports) != 1 {
		t.Fatalf("100 export errors in quick succession wrote %d log lines, want 1", len(reports))
	}
	if reports[0]["otel_error"] != "export 0: connection refused" {
		t.Errorf("first report names %v, want the first error", reports[0]["otel_error"])
	}

	now = start.Add(time.Minute - time.Nanosecond)
	for i := range 100 {
		otel.Handle(fmt.Errorf("export %d: still refused", i))
	}
	if n := len(exportErrorReports(t, logs)); n != 1 {
		t.Fatalf("errors until just before a minute had passed wrote %d log lines in all, want still 1", n)
	}

	now = start.Add(time.Minute)
	otel.Handle(errors.New("export after a minute: refused"))
	for range 10 {
		otel.Handle(errors.New("export in the same instant: refused"))
	}
	reports = exportErrorReports(t, logs)
	if len(reports) != 2 {
		t.Fatalf("a minute after the first report: %d log lines in all, want 2", len(reports))
	}
	if r := reports[1]; r["otel_error"] != "export after a minute: refused" || r["suppressed_since_last_report"] != float64(199) {
		t.Errorf("second report %v, want the error after a minute and 199 suppressed", r)
	}
}

// Real exporter failures, many in quick succession, reach the same handler
// and make one line.
func TestRejectedExportsReportedOnce(t *testing.T) {
	rcv := startOTLPReceiver(t, status.Error(codes.InvalidArgument, "rejected by the test receiver"))
	setTelemetryEnv(t, rcv.addr)
	logs := &syncBuffer{}
	cfg := ConfigFromEnv("svc", "v1")
	cfg.LogWriter = logs
	tel, err := Setup(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Full batches are exported at once, and each rejection is reported
	// through otel.Handle; three batches, three failed exports at least.
	for range 3 * 512 {
		_, span := tel.Tracer().Start(context.Background(), "work")
		span.End()
	}
	deadline := time.Now().Add(10 * time.Second)
	for rcv.rejectedCount("traces") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("receiver rejected %d trace exports within 10s, want 3", rcv.rejectedCount("traces"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = tel.Shutdown(ctx) // fails too: the receiver rejects the final flush

	reports := exportErrorReports(t, logs)
	if len(reports) != 1 {
		t.Fatalf("%d rejected trace exports wrote %d log lines, want 1", rcv.rejectedCount("traces"), len(reports))
	}
	if msg, _ := reports[0]["otel_error"].(string); !strings.Contains(msg, "rejected by the test receiver") {
		t.Errorf("report %v does not carry the exporter's error", reports[0])
	}
}
