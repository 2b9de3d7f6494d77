package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/starmates-ai/ai-teams/telemetry"
)

// fakeProvider speaks the OpenAI chat-completions wire format.
func fakeProvider(t *testing.T, status int, answer string) (*httptest.Server, *http.Request) {
	t.Helper()
	var got http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = *r.Clone(context.Background())
		var req chatRequest
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil || r.URL.Path != "/v1/chat/completions" || len(req.Messages) != 2 || req.Model != "gpt-test" {
			http.Error(w, `{"error":{"message":"bad request shape"}}`, 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

const okAnswer = `{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-test",
 "choices":[{"index":0,"message":{"role":"assistant","content":"Here is the plan:\n` + "```json" + `\n{\"steps\":[{\"name\":\"look\",\"action\":\"research\"},{\"name\":\"write\",\"action\":\"draft\"}]}\n` + "```" + `"},"finish_reason":"stop"}],
 "usage":{"prompt_tokens":42,"completion_tokens":17,"total_tokens":59}}`

func TestOpenAIComplete(t *testing.T) {
	srv, got := fakeProvider(t, 200, okAnswer)
	o := &OpenAI{BaseURL: srv.URL + "/v1", APIKey: "sk-secret-key-123", ModelID: "gpt-test", HTTP: srv.Client()}
	c, err := o.Complete(context.Background(), systemPrompt, "ship it")
	if err != nil {
		t.Fatal(err)
	}
	if c.PromptTokens != 42 || c.CompletionTokens != 17 {
		t.Errorf("usage %+v", c)
	}
	if got.Header.Get("Authorization") != "Bearer sk-secret-key-123" {
		t.Errorf("Authorization header %q", got.Header.Get("Authorization"))
	}
	steps, err := parsePlan(c.Text)
	if err != nil || len(steps) != 2 || steps[1].Action != "draft" {
		t.Errorf("plan %+v %v", steps, err)
	}
}

func TestOpenAIFailures(t *testing.T) {
	for name, tc := range map[string]struct {
		status int
		body   string
	}{
		"rate limited": {429, `{"error":{"message":"Rate limit reached","type":"requests"}}`},
		"server error": {500, `oops`},
		"malformed":    {200, `{"choices":`},
		"no choices":   {200, `{"choices":[],"usage":{}}`},
	} {
		t.Run(name, func(t *testing.T) {
			srv, _ := fakeProvider(t, tc.status, tc.body)
			o := &OpenAI{BaseURL: srv.URL + "/v1", ModelID: "gpt-test", HTTP: srv.Client()}
			if _, err := o.Complete(context.Background(), "s", "u"); !errors.Is(err, ErrProvider) {
				t.Errorf("err %v, want ErrProvider", err)
			}
		})
	}
}

// The LLM span carries the GenAI attributes and never the API key.
func TestPlanSpanGenAIAttributes(t *testing.T) {
	srv, _ := fakeProvider(t, 200, okAnswer)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	s := New(&OpenAI{BaseURL: srv.URL + "/v1", APIKey: "sk-secret-key-123", ModelID: "gpt-test", HTTP: srv.Client()}, slog.New(slog.DiscardHandler), tp, noMetrics(t))
	plan, usage, err := s.plan(context.Background(), "ship it")
	if err != nil || len(plan.Steps) != 2 || plan.Type != "ai-assisted" || usage.PromptTokens != 42 {
		t.Fatalf("plan %+v usage %+v err %v", plan, usage, err)
	}
	sp := rec.Ended()[0]
	attrs := map[string]string{}
	for _, a := range sp.Attributes() {
		attrs[string(a.Key)] = a.Value.Emit()
		if strings.Contains(a.Value.Emit(), "sk-secret") {
			t.Errorf("API key on span attribute %s", a.Key)
		}
	}
	if attrs["gen_ai.system"] != "openai" || attrs["gen_ai.request.model"] != "gpt-test" ||
		attrs["gen_ai.usage.input_tokens"] != "42" || attrs["gen_ai.usage.output_tokens"] != "17" {
		t.Errorf("attributes %v", attrs)
	}
}

func TestBuiltinPlannerDeterministic(t *testing.T) {
	a, _ := BuiltinPlanner{}.Complete(context.Background(), systemPrompt, "write the report #partial")
	b, _ := BuiltinPlanner{}.Complete(context.Background(), systemPrompt, "write the report #partial")
	if a != b || a.PromptTokens == 0 || a.CompletionTokens == 0 {
		t.Errorf("not deterministic or no tokens: %+v %+v", a, b)
	}
	steps, err := parsePlan(a.Text)
	if err != nil || steps[1].Action != "fail" {
		t.Errorf("#partial should put a failing step second: %+v", steps)
	}
}

func TestParsePlanFallsBackToLines(t *testing.T) {
	steps, err := parsePlan("1. gather data\n2. write summary\n")
	if err != nil || len(steps) != 2 || steps[0].Name != "gather data" {
		t.Errorf("%+v %v", steps, err)
	}
	if _, err := parsePlan("   "); !errors.Is(err, ErrProvider) {
		t.Errorf("empty answer: %v", err)
	}
}

func noMetrics(t *testing.T) *telemetry.Metrics {
	m, err := telemetry.NewMetrics(metricnoop.NewMeterProvider(), "workflow-agent")
	if err != nil {
		t.Fatal(err)
	}
	return m
}
