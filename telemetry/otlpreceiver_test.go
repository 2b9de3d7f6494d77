package telemetry

import (
	"context"
	"net"
	"sync"
	"testing"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/grpc"
)

// otlpReceiver is a local OTLP/gRPC endpoint (the protocol Setup's exporters
// speak) that keeps every request, so tests read what the SDK itself sends,
// before any collector adds defaults.
type otlpReceiver struct {
	addr   string // host:port, as OTEL_EXPORTER_OTLP_ENDPOINT takes it
	reject error  // non-nil: every export is answered with it

	mu       sync.Mutex
	traces   []*coltracepb.ExportTraceServiceRequest
	metrics  []*colmetricspb.ExportMetricsServiceRequest
	logs     []*collogspb.ExportLogsServiceRequest
	rejected map[string]int // by signal
}

// startOTLPReceiver serves on 127.0.0.1:0 until the test ends. reject, when
// non-nil, is the error every export gets.
func startOTLPReceiver(t *testing.T, reject error) *otlpReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &otlpReceiver{addr: ln.Addr().String(), reject: reject, rejected: map[string]int{}}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, receiverTraces{r: r})
	colmetricspb.RegisterMetricsServiceServer(srv, receiverMetrics{r: r})
	collogspb.RegisterLogsServiceServer(srv, receiverLogs{r: r})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return r
}

// counts returns how many export requests of each signal were accepted.
func (r *otlpReceiver) counts() (traces, metrics, logs int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.traces), len(r.metrics), len(r.logs)
}

func (r *otlpReceiver) rejectedCount(signal string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected[signal]
}

// accept records req under signal, or counts it as rejected.
func (r *otlpReceiver) accept(signal string, keep func()) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reject != nil {
		r.rejected[signal]++
		return r.reject
	}
	keep()
	return nil
}

// resources returns the resource of every batch received, per signal.
func (r *otlpReceiver) resources() map[string][]*resourcepb.Resource {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]*resourcepb.Resource{}
	for _, req := range r.traces {
		for _, rs := range req.GetResourceSpans() {
			out["traces"] = append(out["traces"], rs.GetResource())
		}
	}
	for _, req := range r.metrics {
		for _, rm := range req.GetResourceMetrics() {
			out["metrics"] = append(out["metrics"], rm.GetResource())
		}
	}
	for _, req := range r.logs {
		for _, rl := range req.GetResourceLogs() {
			out["logs"] = append(out["logs"], rl.GetResource())
		}
	}
	return out
}

// traceIDs returns the hex trace id of every span received.
func (r *otlpReceiver) traceIDs() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := map[string]bool{}
	for _, req := range r.traces {
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, sp := range ss.GetSpans() {
					ids[string(appendHex(nil, sp.GetTraceId()))] = true
				}
			}
		}
	}
	return ids
}

// stringAttrs flattens a resource's string attributes.
func stringAttrs(res *resourcepb.Resource) map[string]string {
	out := map[string]string{}
	for _, kv := range res.GetAttributes() {
		if v, ok := kv.GetValue().GetValue().(*commonpb.AnyValue_StringValue); ok {
			out[kv.GetKey()] = v.StringValue
		}
	}
	return out
}

type receiverTraces struct {
	coltracepb.UnimplementedTraceServiceServer
	r *otlpReceiver
}

func (s receiverTraces) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	return &coltracepb.ExportTraceServiceResponse{}, s.r.accept("traces", func() { s.r.traces = append(s.r.traces, req) })
}

type receiverMetrics struct {
	colmetricspb.UnimplementedMetricsServiceServer
	r *otlpReceiver
}

func (s receiverMetrics) Export(_ context.Context, req *colmetricspb.ExportMetricsServiceRequest) (*colmetricspb.ExportMetricsServiceResponse, error) {
	return &colmetricspb.ExportMetricsServiceResponse{}, s.r.accept("metrics", func() { s.r.metrics = append(s.r.metrics, req) })
}

type receiverLogs struct {
	collogspb.UnimplementedLogsServiceServer
	r *otlpReceiver
}

func (s receiverLogs) Export(_ context.Context, req *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	return &collogspb.ExportLogsServiceResponse{}, s.r.accept("logs", func() { s.r.logs = append(s.r.logs, req) })
}
