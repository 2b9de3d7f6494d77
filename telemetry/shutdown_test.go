package telemetry

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// blackholeAddr is a listener that never accepts: the kernel completes the
// handshake and nothing ever answers, a collector that hangs.
func blackholeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// With a collector that never answers, Shutdown returns by its deadline and
// says in one WARN line which signals it could not deliver.
func TestShutdownReportsUndeliveredSignals(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	logs := &syncBuffer{}
	tel, err := Setup(context.Background(), Config{ServiceName: "svc", Environment: EnvStaging, OTLPEndpoint: blackholeAddr(t), LogWriter: logs})
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tel.Tracer().Start(context.Background(), "work")
	tel.Logger.InfoContext(ctx, "work done")
	span.End()

	const flushTimeout = 500 * time.Millisecond
	sctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	start := time.Now()
	err = tel.Shutdown(sctx)
	took := time.Since(start)
	t.Logf("Shutdown returned after %v: %v", took, err)
	if err == nil {
		t.Error("Shutdown reported success with a collector that never answers")
	}
	if took > flushTimeout+3*time.Second {
		t.Errorf("Shutdown took %v; its deadline was %v", took, flushTimeout)
	}
	var reports []string
	for _, l := range logs.lines(t) {
		if msg, _ := l["message"].(string); strings.HasPrefix(msg, "telemetry flush incomplete") {
			if l["level"] != "WARN" {
				t.Errorf("report at level %v, want WARN", l["level"])
			}
			reports = append(reports, msg)
		}
	}
	if len(reports) != 1 {
		t.Fatalf("%d flush reports, want 1: %q", len(reports), reports)
	}
	for _, signal := range []string{"traces", "metrics", "logs", "not delivered within"} {
		if !strings.Contains(reports[0], signal) {
			t.Errorf("report %q does not mention %q", reports[0], signal)
		}
	}
}
