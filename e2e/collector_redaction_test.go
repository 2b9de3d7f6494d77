package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The collector is the second line against secrets: whatever a service
// let through, the real monitoring/otel-collector-config.yml masks before
// the backend sees it - each kind of credential its redaction processor
// knows, inside ordinary text - and leaves look-alikes readable.
func TestCollectorRedactsSecrets(t *testing.T) {
	root := repoRoot(t)
	bin := collectorBinary(t, root)
	dir := t.TempDir()
	backend := startTraceSink(t)
	col := startCollector(t, bin, root, dir, []string{
		"JAEGER_OTLP_ENDPOINT=" + backend.addr,
		"OTEL_STORAGE_DIR=" + filepath.Join(dir, "storage"),
		"OTEL_FILE_LOGS=" + filepath.Join(dir, "logs.jsonl"),
	}, localProfile)

	// Built from parts, so no whole credential sits in the tree.
	secrets := map[string]string{
		"bearer":  "Bearer " + "abcDEF123456" + "ghiJKL789",
		"grafana": "glc_" + strings.Repeat("eyJvIjoi", 4),
		"aws_id":  "AKIA" + "IOSFODNN7" + "EXAMPLE",
		"aws_key": "aws_secret_access_key=" + strings.Repeat("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", 1),
		"openai":  "sk-" + "proj" + strings.Repeat("A1b2C3d4", 3),
		"jwt":     "eyJ" + "hbGciOiJIUzI1NiJ9" + "." + "eyJzdWIiOiIxMjM0In0" + "." + "dozjgNryP4J3jVmNHl0w5N",
		"text":    "hunter2-but-longer",
	}
	keep := map[string]string{
		"gen_ai.usage.input_tokens": "1234",
		"token_type":                "bearer",
		"goal":                      "a basic workflow for the author",
		"url.path":                  "/api/v1/workflows/run_4bf92f3577b34da6",
	}
	attrs := []*commonpb.KeyValue{}
	for k, v := range secrets {
		// Inside text, as a log line or a URL would carry it.
		attrs = append(attrs, stringAttr("note."+k, "before "+v+" after"))
	}
	for k, v := range keep {
		attrs = append(attrs, stringAttr(k, v))
	}
	const spanID = 0x5ec2e7
	sendSpanWithAttributes(t, col.grpc, spanID, attrs)

	var got map[string]string
	poll(t, 15*time.Second, "the span through the collector", func() (bool, string) {
		backend.mu.Lock()
		defer backend.mu.Unlock()
		got = backend.attrs[spanID]
		return got != nil, "not received yet"
	})
	for k, v := range secrets {
		out, ok := got["note."+k]
		secretPart := strings.TrimPrefix(strings.TrimPrefix(v, "Bearer "), "aws_secret_access_key=")
		if k == "text" {
			// Not a known credential shape under an innocent key: the
			// collector cannot tell it from text, the SDK's key rules do.
			if out != "before "+v+" after" {
				t.Errorf("note.text: %q, want it untouched", out)
			}
			continue
		}
		if !ok || strings.Contains(out, secretPart) || !strings.HasPrefix(out, "before ") || !strings.HasSuffix(out, " after") {
			t.Errorf("note.%s reached the backend as %q: want the credential masked and the text around it kept", k, out)
		}
	}
	for k, v := range keep {
		if got[k] != v {
			t.Errorf("%s: %q, want %q kept", k, got[k], v)
		}
	}
}

func stringAttr(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// sendSpanWithAttributes sends one span, its span id id, to the collector.
func sendSpanWithAttributes(t *testing.T, addr string, id uint64, attrs []*commonpb.KeyValue) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	traceID, spanID := make([]byte, 16), make([]byte, 8)
	binary.BigEndian.PutUint64(traceID[8:], id)
	binary.BigEndian.PutUint64(spanID, id)
	now := uint64(time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = coltracepb.NewTraceServiceClient(conn).Export(ctx, &coltracepb.ExportTraceServiceRequest{
		ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId: traceID, SpanId: spanID, Name: "redaction-test", StartTimeUnixNano: now, EndTimeUnixNano: now + 1000, Attributes: attrs,
		}}}}}},
	})
	if err != nil {
		t.Fatal(fmt.Errorf("collector refused the span: %w", err))
	}
}
