package telemetry

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// childEnv marks the test binary re-run by inChild.
const childEnv = "TELEMETRY_SELFOBS_CHILD"

// inChild runs the calling test alone in a fresh test process and reports
// whether this is that process. The SDK binds its own metrics to the global
// MeterProvider, which delegates only to the first provider ever installed:
// in this package's process that is whichever test ran Setup first.
func inChild(t *testing.T) bool {
	t.Helper()
	if os.Getenv(childEnv) != "" {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a fresh process: %v\n%s", t.Name(), err, out)
	}
	t.Logf("fresh process:\n%s", out)
	return false
}

// switchableReceiver is an OTLP/gRPC endpoint on a fixed address that the
// test stops and starts (a collector going away and coming back), and whose
// trace service can be made to hold or reject exports.
type switchableReceiver struct {
	*otlpReceiver
	traceHandler func(ctx context.Context) error // nil: accept

	mu  sync.Mutex
	srv *grpc.Server
}

func newSwitchableReceiver(t *testing.T) *switchableReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &switchableReceiver{otlpReceiver: &otlpReceiver{addr: ln.Addr().String(), rejected: map[string]int{}}}
	r.serve(ln)
	t.Cleanup(r.stop)
	return r
}

func (r *switchableReceiver) serve(ln net.Listener) {
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, switchableTraces{r: r})
	colmetricspb.RegisterMetricsServiceServer(srv, receiverMetrics{r: r.otlpReceiver})
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// stop closes the listener and every connection, as a dying collector does.
func (r *switchableReceiver) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.Stop()
		r.srv = nil
	}
}

// restart listens again on the same address.
func (r *switchableReceiver) restart(t *testing.T) {
	t.Helper()
	var ln net.Listener
	poll(t, 5*time.Second, "listen again on "+r.addr, func() bool {
		var err error
		ln, err = net.Listen("tcp", r.addr)
		return err == nil
	})
	r.serve(ln)
}

type switchableTraces struct {
	coltracepb.UnimplementedTraceServiceServer
	r *switchableReceiver
}

func (s switchableTraces) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	if h := s.r.traceHandler; h != nil {
		if err := h(ctx); err != nil {
			s.r.mu.Lock()
			s.r.rejected["traces"]++
			s.r.mu.Unlock()
			return nil, err
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, s.r.accept("traces", func() { s.r.traces = append(s.r.traces, req) })
}

// metricSum returns the latest cumulative value of a counter, summed over
// the data points whose attributes satisfy match, as the SDK last sent it.
func (r *otlpReceiver) metricSum(name string, match func(map[string]string) bool) (sum int64, found bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, req := range r.metrics {
		var s int64
		var in bool
		for _, rm := range req.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					if m.GetName() != name {
						continue
					}
					in = true
					for _, dp := range m.GetSum().GetDataPoints() {
						if match(kvStrings(dp.GetAttributes())) {
							s += dp.GetAsInt()
						}
					}
				}
			}
		}
		if in { // cumulative: the latest request that has the metric wins
			sum, found = s, true
		}
	}
	return sum, found
}

func kvStrings(kvs []*commonpb.KeyValue) map[string]string {
	out := map[string]string{}
	for _, kv := range kvs {
		out[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	return out
}

func poll(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The SDK counts what it drops, as metrics on the service's own provider
// and resource: spans the full queue refused, and spans the collector
// rejected for good.
func TestSDKCountsDroppedSpans(t *testing.T) {
	if !inChild(t) {
		return
	}
	rcv := newSwitchableReceiver(t)
	release := make(chan struct{})
	// The first export is held, so the processor's queue fills behind it;
	// once released, every export is rejected (not retryable).
	rcv.traceHandler = func(ctx context.Context) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return status.Error(codes.InvalidArgument, "rejected by the test")
	}
	setTelemetryEnv(t, rcv.addr)
	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "100")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
	t.Setenv("OTEL_BSP_MAX_QUEUE_SIZE", "100") // the operator's setting wins over QueueSize
	t.Setenv(observabilityEnv, "")
	os.Unsetenv(observabilityEnv) // Setup turns it on

	tel, err := Setup(context.Background(), ConfigFromEnv("svc", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = tel.Shutdown(ctx)
	}()

	const spans = 1000
	for range spans {
		_, span := tel.Tracer().Start(context.Background(), "work")
		span.End()
	}
	// At most one batch (100, the queue size) is held in the exporter and
	// 100 wait in the queue: the rest is dropped.
	queueFull := func(a map[string]string) bool { return a["error.type"] == "queue_full" }
	poll(t, 10*time.Second, "otel.sdk.processor.span.processed{error.type=queue_full} >= 800", func() bool {
		n, _ := rcv.metricSum("otel.sdk.processor.span.processed", queueFull)
		return n >= spans-200
	})
	close(release)
	failed := func(a map[string]string) bool { return a["error.type"] != "" }
	poll(t, 10*time.Second, "otel.sdk.exporter.span.exported{error.type} >= 100", func() bool {
		n, _ := rcv.metricSum("otel.sdk.exporter.span.exported", failed)
		return n >= 100
	})
	if _, ok := rcv.metricSum("otel.sdk.processor.span.queue.capacity", func(map[string]string) bool { return true }); !ok {
		t.Error("no otel.sdk.processor.span.queue.capacity")
	}
	// Only the service's own resource: the alert groups by its labels.
	for _, res := range rcv.resources()["metrics"] {
		a := stringAttrs(res)
		if a["service.name"] != envTestService || a["deployment.environment.name"] != envTestEnvironment || a["project"] != envTestProject {
			t.Errorf("self-observability metrics on resource %v", a)
		}
	}
	if _, ok := rcv.metricSum("otel.sdk.exporter.operation.duration", func(map[string]string) bool { return true }); ok {
		t.Error("otel.sdk.exporter.operation.duration exported; selfObsViews should drop it")
	}
}

// A collector that goes away and comes back: the spans made meanwhile wait
// in the queue, the exporter retries, and all of them arrive within
// ResumeWithin of the collector's return, without a new Setup.
func TestExportResumesAfterCollectorOutage(t *testing.T) {
	rcv := newSwitchableReceiver(t)
	setTelemetryEnv(t, rcv.addr)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	tel, err := Setup(context.Background(), ConfigFromEnv("svc", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(ctx)
	}()
	want := map[string]bool{}
	emit := func() {
		_, span := tel.Tracer().Start(context.Background(), "work")
		span.End()
		want[span.SpanContext().TraceID().String()] = true
	}
	emit()
	poll(t, 5*time.Second, "first span before the outage", func() bool { return len(rcv.traceIDs()) == 1 })

	// Three seconds without a collector, spans all along: long enough for
	// failed exports, retries and gRPC's reconnect backoff to build up.
	rcv.stop()
	outage := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	for time.Since(outage) < 3*time.Second {
		<-tick.C
		emit()
	}
	tick.Stop()
	if got := len(rcv.traceIDs()); got != 1 {
		t.Fatalf("%d spans arrived while the receiver was down", got)
	}

	rcv.restart(t)
	back := time.Now()
	poll(t, ResumeWithin, fmt.Sprintf("all %d spans after the receiver's return", len(want)), func() bool {
		return len(rcv.traceIDs()) == len(want)
	})
	t.Logf("%d spans made during a 3 s outage arrived %v after the receiver's return", len(want)-1, time.Since(back).Round(time.Millisecond))
	for id := range rcv.traceIDs() {
		if !want[id] {
			t.Errorf("unexpected trace %s", id)
		}
	}
}

// The memory the outage budget costs: QueueSize spans and log records held
// by processors whose exporter does not return. The numbers are the ones
// selfobs.go documents; the bounds catch a queue item growing a lot.
func TestQueueMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates ~100 MiB")
	}
	block := make(chan struct{})
	defer close(block)

	before := heap()
	bsp := sdktrace.NewBatchSpanProcessor(blockingSpanExporter{block}, sdktrace.WithMaxQueueSize(QueueSize), sdktrace.WithBatchTimeout(time.Hour))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(bsp))
	tracer := tp.Tracer("mem")
	for i := range QueueSize {
		_, span := tracer.Start(context.Background(), "POST /api/v1/workflows")
		span.SetAttributes(
			attribute.String("http.request.method", "POST"), attribute.String("http.route", "/api/v1/workflows"),
			attribute.String("url.path", "/api/v1/workflows"), attribute.String("url.scheme", "http"),
			attribute.Int("http.response.status_code", 201), attribute.String("server.address", "127.0.0.1"),
			attribute.Int("server.port", 8080), attribute.String("network.protocol.version", "1.1"),
			attribute.String("user_agent.original", "Go-http-client/1.1"), attribute.String("client.address", "127.0.0.1"),
			attribute.String("user.id", fmt.Sprintf("u_%d", i)), attribute.String("workflow.id", fmt.Sprintf("wf_%d", i)),
		)
		span.End()
	}
	spanBytes := (heap() - before) / QueueSize

	before = heap()
	blp := sdklog.NewBatchProcessor(blockingLogExporter{block}, sdklog.WithMaxQueueSize(QueueSize), sdklog.WithExportInterval(time.Hour))
	empty := (heap() - before) / QueueSize
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(blp))
	logger := lp.Logger("mem")
	for i := range QueueSize {
		var r otellog.Record
		r.SetTimestamp(time.Now())
		r.SetSeverity(otellog.SeverityInfo)
		r.SetBody(attribute.StringValue("request completed"))
		r.AddAttributes(
			attribute.String("endpoint", "/api/v1/workflows"), attribute.String("method", "POST"),
			attribute.Int("status_code", 201), attribute.Float64("duration_ms", 12.5),
			attribute.String("user_id", fmt.Sprintf("u_%d", i)), attribute.String("tracking_id", fmt.Sprintf("%032x", i)),
		)
		logger.Emit(context.Background(), r)
	}
	logBytes := (heap() - before) / QueueSize
	runtime.KeepAlive(tp)
	runtime.KeepAlive(lp)

	t.Logf("per queued span %d B (full queue %.1f MiB); log queue slot %d B up front, per queued record %d B (full queue %.1f MiB)",
		spanBytes, float64(spanBytes*QueueSize)/(1<<20), empty, logBytes, float64(logBytes*QueueSize)/(1<<20))
	if spanBytes > 2048 || logBytes > 1536 {
		t.Errorf("queued items grew: span %d B, log record %d B; update the budget in selfobs.go", spanBytes, logBytes)
	}
}

func heap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

type blockingSpanExporter struct{ block chan struct{} }

func (e blockingSpanExporter) ExportSpans(ctx context.Context, _ []sdktrace.ReadOnlySpan) error {
	select {
	case <-e.block:
	case <-ctx.Done():
	}
	return nil
}
func (blockingSpanExporter) Shutdown(context.Context) error { return nil }

type blockingLogExporter struct{ block chan struct{} }

func (e blockingLogExporter) Export(ctx context.Context, _ []sdklog.Record) error {
	select {
	case <-e.block:
	case <-ctx.Done():
	}
	return nil
}
func (blockingLogExporter) Shutdown(context.Context) error   { return nil }
func (blockingLogExporter) ForceFlush(context.Context) error { return nil }
