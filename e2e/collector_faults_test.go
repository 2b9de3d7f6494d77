package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The collector's trace path through a backend outage, with the real
// monitoring/otel-collector-config.yml: the Jaeger exporter's sending queue
// (on disk, file_storage) and retry_on_failure. "Jaeger" is an OTLP/gRPC
// receiver of the test's own that it stops and starts; the collector's
// ports are moved off the stack's by a test overlay, its queue directory is
// the test's.
func TestCollectorBackendOutage(t *testing.T) {
	t.Run("retried from the queue", func(t *testing.T) { collectorOutage(t, false) })
	t.Run("queue survives a collector restart", func(t *testing.T) { collectorOutage(t, true) })
}

const localProfile = "monitoring/otel-collector-config.yml"

func collectorOutage(t *testing.T, restart bool) {
	root := repoRoot(t)
	bin := collectorBinary(t, root)
	dir := t.TempDir()
	backend := startTraceSink(t)
	env := []string{
		"JAEGER_OTLP_ENDPOINT=" + backend.addr,
		"OTEL_STORAGE_DIR=" + filepath.Join(dir, "storage"),
		"OTEL_FILE_LOGS=" + filepath.Join(dir, "logs.jsonl"),
	}
	col := startCollector(t, bin, root, dir, env, localProfile)

	var sent []uint64
	send := func(n int) {
		t.Helper()
		ids := sendSpans(t, col.grpc, len(sent), n)
		sent = append(sent, ids...)
	}
	send(10)
	poll(t, 15*time.Second, "spans through the collector before the outage", func() (bool, string) {
		return backend.count(sent) == len(sent), fmt.Sprintf("%d of %d", backend.count(sent), len(sent))
	})

	// Backend down; the collector keeps accepting, its exporter fails and
	// retries.
	backend.stop()
	down := time.Now()
	for range 20 {
		send(25)
	}
	poll(t, 10*time.Second, "the exporter tried the stopped backend", func() (bool, string) {
		return strings.Contains(col.out.tail(1<<16), "Exporting failed"), "no export failure logged yet"
	})
	if restart {
		// A collector restart in the middle of the outage: what it had not
		// delivered is on disk and is sent by its successor.
		col.stop(t)
		col = startCollector(t, bin, root, dir, env, localProfile)
		send(10)
	}
	outage := time.Since(down)

	backend.start(t)
	back := time.Now()
	poll(t, 30*time.Second, "every span after the backend's return", func() (bool, string) {
		return backend.count(sent) == len(sent), fmt.Sprintf("%d of %d", backend.count(sent), len(sent))
	})
	measure(t, "collector backend outage (restart=%v): %d spans, outage %v, all delivered %v after the backend's return (%d duplicates)",
		restart, len(sent), outage.Round(100*time.Millisecond), time.Since(back).Round(100*time.Millisecond), backend.duplicates())
}

// collectorBinary is our collector, or ends the test: a skip on a developer
// machine, a failure in CI.
func collectorBinary(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(root, ".bin", "otelcol-ai-teams")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if os.Getenv("CI") != "" {
		t.Fatal(".bin/otelcol-ai-teams is missing in CI: build it with scripts/build-collector.sh")
	}
	t.Skip(".bin/otelcol-ai-teams not built: scripts/build-collector.sh")
	return ""
}

type faultCollector struct {
	grpc string
	prom string // application metrics (the prometheus exporter)
	cmd  *exec.Cmd
	out  *lineSink
	done chan struct{}
}

// stop ends the collector the way a restart does (SIGINT, graceful) and
// waits for it.
func (c *faultCollector) stop(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		t.Fatalf("collector did not stop within 20 s:\n%s", c.out.tail(3000))
	}
}

// startCollector runs our collector with the given config files (relative
// to the repo root) plus an overlay that moves its listen ports to free ones,
// and returns it once healthy. As in startCloudCollector, a start that lost
// a port to another process is retried with new ones.
func startCollector(t *testing.T, bin, root, dir string, env []string, configs ...string) *faultCollector {
	t.Helper()
	for attempt := 1; ; attempt++ {
		grpcAddr, httpAddr, prom, health, own := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
		overlay := filepath.Join(dir, fmt.Sprintf("ports-%d-%d.yml", time.Now().UnixNano(), attempt))
		writeFile(t, overlay, fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc: {endpoint: %q}
      http: {endpoint: %q}
exporters:
  prometheus: {endpoint: %q}
extensions:
  health_check: {endpoint: %q}
service:
  telemetry:
    metrics:
      readers:
        - pull: {exporter: {prometheus: {host: 127.0.0.1, port: %s}}}
`, grpcAddr, httpAddr, prom, health, portOf(own)))
		var args []string
		for _, c := range append(configs, overlay) {
			args = append(args, "--config", c)
		}
		cmd := exec.Command(bin, args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), env...)
		c := &faultCollector{grpc: grpcAddr, prom: prom, cmd: cmd, out: &lineSink{}, done: make(chan struct{})}
		cmd.Stdout, cmd.Stderr = c.out, c.out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = cmd.Wait(); close(c.done) }()
		t.Cleanup(func() {
			select {
			case <-c.done:
				return
			default:
			}
			_ = cmd.Process.Kill()
			<-c.done
			if t.Failed() {
				t.Logf("collector output (tail):\n%s", c.out.tail(3000))
			}
		})
		healthy := false
		poll(t, 60*time.Second, "collector healthy", func() (bool, string) {
			select {
			case <-c.done:
				return true, ""
			default:
			}
			resp, err := http.Get("http://" + health + "/")
			if err != nil {
				return false, err.Error()
			}
			resp.Body.Close()
			healthy = resp.StatusCode == http.StatusOK
			return healthy, resp.Status
		})
		if healthy {
			return c
		}
		if attempt == 3 || !strings.Contains(c.out.tail(1<<16), "address already in use") {
			t.Fatalf("collector exited:\n%s", c.out.tail(3000))
		}
	}
}

// sendSpans sends n single-span traces to the collector's OTLP/gRPC port in
// one request and returns their ids (the trace id's low half, from seq on).
func sendSpans(t *testing.T, addr string, seq, n int) []uint64 {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	now := uint64(time.Now().UnixNano())
	spans := make([]*tracepb.Span, n)
	ids := make([]uint64, n)
	for i := range spans {
		id := uint64(os.Getpid())<<32 | uint64(seq+i+1)
		ids[i] = id
		traceID := make([]byte, 16)
		binary.BigEndian.PutUint64(traceID[8:], id)
		spanID := make([]byte, 8)
		binary.BigEndian.PutUint64(spanID, id)
		spans[i] = &tracepb.Span{TraceId: traceID, SpanId: spanID, Name: "fault-test", StartTimeUnixNano: now, EndTimeUnixNano: now + 1000}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = coltracepb.NewTraceServiceClient(conn).Export(ctx, &coltracepb.ExportTraceServiceRequest{
		ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}}}},
	})
	if err != nil {
		t.Fatalf("collector refused spans: %v", err)
	}
	return ids
}

// traceSink is the backend: an OTLP/gRPC trace receiver on a fixed address
// that the test stops and starts again.
type traceSink struct {
	coltracepb.UnimplementedTraceServiceServer
	addr string

	mu    sync.Mutex
	seen  map[uint64]int               // span id → times received
	attrs map[uint64]map[string]string // span id → its string attributes, last received
	srv   *grpc.Server
}

func startTraceSink(t *testing.T) *traceSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &traceSink{addr: ln.Addr().String(), seen: map[uint64]int{}, attrs: map[uint64]map[string]string{}}
	s.serve(ln)
	t.Cleanup(s.stop)
	return s
}

func (s *traceSink) serve(ln net.Listener) {
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, s)
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// start listens again on the sink's address (a backend coming back).
func (s *traceSink) start(t *testing.T) {
	t.Helper()
	var ln net.Listener
	poll(t, 10*time.Second, "listen again on "+s.addr, func() (bool, string) {
		var err error
		ln, err = net.Listen("tcp", s.addr)
		return err == nil, fmt.Sprint(err)
	})
	s.serve(ln)
}

// stop closes the listener and every connection, as a dying backend does.
func (s *traceSink) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Stop()
		s.srv = nil
	}
}

func (s *traceSink) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				if id := sp.GetSpanId(); len(id) == 8 {
					s.seen[binary.BigEndian.Uint64(id)]++
					attrs := map[string]string{}
					for _, kv := range sp.GetAttributes() {
						attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
					}
					s.attrs[binary.BigEndian.Uint64(id)] = attrs
				}
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// count is how many of ids were received at least once.
func (s *traceSink) count(ids []uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, id := range ids {
		if s.seen[id] > 0 {
			n++
		}
	}
	return n
}

// duplicates is how many deliveries repeated a span: the queue delivers at
// least once, and a batch in flight at a restart may come twice.
func (s *traceSink) duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.seen {
		n += c - 1
	}
	return n
}
