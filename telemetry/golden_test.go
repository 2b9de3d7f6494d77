package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden files")

// goldenCases are the design guide's structures, one line each.
var goldenCases = []struct {
	name  string
	level slog.Level
	msg   string
	attrs []slog.Attr
}{
	{"access", slog.LevelInfo, "POST /api/v1/sessions - 201", []slog.Attr{
		slog.Group("request", slog.String("method", "POST"), slog.String("path", "/api/v1/sessions"), slog.String("route", "/api/v1/sessions"),
			slog.Int("size", 1024), slog.Duration("duration", 245*time.Millisecond), slog.String("user_agent", "curl/8.0"), slog.String("ip", "127.0.0.1")),
		slog.Group("response", slog.Int("status", 201), slog.Int("size", 2048), slog.String("content_type", "application/json")),
		User("user_12345", "premium"), Session("sess_67890"),
	}},
	{"business", slog.LevelInfo, "workflow run completed", []slog.Attr{
		User("user_12345", ""), SessionWithDuration("sess_67890", 1200*time.Second),
		Workflow("wf_abc123", "ai-assisted", "completed"), Operation("execute_workflow", "success", 325*time.Millisecond),
	}},
	{"error", slog.LevelWarn, "validation failed", []slog.Attr{
		Error(errors.New("user_id is required"), "E001", CategoryClient),
	}},
	{"error_with_exception", slog.LevelError, "charge failed", []slog.Attr{
		Error(fmt.Errorf("gateway: %w", os.ErrDeadlineExceeded), "E003", CategoryTimeout),
		Operation("charge", "failure", 0),
	}},
	{"redacted_escaped", slog.LevelDebug, "line one\nline two", []slog.Attr{
		slog.String("authorization", "Bearer abc"), slog.Group("headers", slog.String("Set-Cookie", "s=1")),
		slog.String("note", "tab\there \"quoted\" \u2028"),
	}},
	{"reserved_and_duplicate", slog.LevelInfo, "m", []slog.Attr{
		slog.String("service", "spoofed"), slog.String("tracking_id", "spoofed"), slog.Int("n", 1), slog.Int("n", 2),
	}},
}

// stackRe hides what changes between machines and edits.
var stackRe = regexp.MustCompile(`"stack_trace":"(\\.|[^"\\])*"|"file":"[^"]*"|"line":\d+`)

func TestGoldenLines(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := NewHandler(&buf, HandlerOptions{Service: "api-gateway", Level: slog.LevelDebug})
			r := record(tc.level, tc.msg, tc.attrs...)
			if err := h.Handle(spanCtx(t), r); err != nil {
				t.Fatal(err)
			}
			got := stackRe.ReplaceAllStringFunc(buf.String(), func(m string) string {
				k, _, _ := strings.Cut(m, ":")
				return k + `:"<varies>"`
			})
			if !json.Valid([]byte(got)) {
				t.Fatalf("invalid JSON: %s", got)
			}
			path := filepath.Join("testdata", "golden", tc.name+".json")
			if *update {
				_ = os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGoldenLines -update)", err)
			}
			if got != string(want) {
				t.Errorf("line differs from %s:\n got %s\nwant %s", path, got, want)
			}
		})
	}
}

// The real handler path with source: a record from slog.Logger carries the PC.
func TestSourceField(t *testing.T) {
	var buf syncBuffer
	slog.New(NewHandler(&buf, HandlerOptions{Service: "s"})).InfoContext(context.Background(), "with source")
	src, _ := buf.lines(t)[0]["source"].(map[string]any)
	if src["module"] != "github.com/starmates-ai/ai-teams/telemetry" || src["function"] != "TestSourceField" || src["line"].(float64) < 1 {
		t.Errorf("source %v", src)
	}
}

func countFields(v any) int {
	switch x := v.(type) {
	case map[string]any:
		n := 0
		for _, c := range x {
			n += countFields(c)
		}
		return n
	default:
		return 1
	}
}

func TestFieldBudget(t *testing.T) {
	var buf syncBuffer
	l := slog.New(NewHandler(&buf, HandlerOptions{Service: "s"}))
	many := make([]any, 0, 2100)
	for i := range 2000 {
		many = append(many, slog.Int(fmt.Sprintf("k%04d", i), i))
	}
	// Essential objects come after the flood and must survive it.
	many = append(many, slog.Group("request", slog.String("method", "GET"), slog.String("path", "/x")),
		slog.Group("response", slog.Int("status", 200)))
	l.With("pre", "x").InfoContext(spanCtx(t), "flood", many...)
	m := buf.lines(t)[0]
	n := countFields(m)
	if n >= 1000 {
		t.Fatalf("%d fields", n)
	}
	dropped, _ := m[DroppedFieldsKey].(float64)
	if dropped < 1000 {
		t.Errorf("dropped_fields %v", m[DroppedFieldsKey])
	}
	for _, k := range []string{"timestamp", "level", "message", "service", "tracking_id", "tracing", "source", "pre", "request", "response"} {
		if _, ok := m[k]; !ok {
			t.Errorf("field %s lost to the budget", k)
		}
	}
	t.Logf("2003 attributes → %d fields, %v dropped", n, dropped)
}

func TestLongValuesCut(t *testing.T) {
	var buf syncBuffer
	slog.New(NewHandler(&buf, HandlerOptions{Service: "s", MaxValueBytes: 64})).Info(strings.Repeat("m", 100),
		"v", strings.Repeat("é", 100), "any", map[string]any{"deep": strings.Repeat("x", 100)})
	m := buf.lines(t)[0]
	deep, _ := m["any"].(map[string]any)
	for k, v := range map[string]any{"message": m["message"], "v": m["v"], "any.deep": deep["deep"]} {
		s, _ := v.(string)
		if len(s) > 64 || !strings.HasSuffix(s, TruncatedMarker) {
			t.Errorf("%s not cut: %d bytes %q", k, len(s), s)
		}
	}
}
