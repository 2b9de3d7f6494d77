package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"testing"
	"testing/slogtest"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// nilStringer, nilError and nilValuer dereference their receiver, as most
// methods on a pointer do: called on a typed nil, they panic.
type nilStringer struct{ name string }

func (n *nilStringer) String() string { return n.name }

type nilError struct{ msg string }

func (e *nilError) Error() string { return e.msg }

type nilValuer struct{ v string }

func (n *nilValuer) LogValue() slog.Value { return slog.StringValue(n.v) }

func TestLogCallsNeverPanicOnTypedNils(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelError} {
		var buf syncBuffer
		l := slog.New(NewHandler(&buf, HandlerOptions{Service: "s"}))
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("a log call at %v panicked: %v", level, p)
				}
			}()
			l.Log(spanCtx(t), level, "typed nils",
				slog.Any("who", (*nilStringer)(nil)), slog.Any("error", (*nilError)(nil)), slog.Any("err2", error((*nilError)(nil))),
				slog.Any("valuer", (*nilValuer)(nil)), slog.Any("map", map[string]any(nil)), slog.Any("slice", []string(nil)),
				slog.Group("g", slog.Any("who", (*nilStringer)(nil))), Error((*nilError)(nil), "E1", CategoryServer))
		}()
		m := buf.lines(t)[0]
		if m["who"] != "<nil>" || m["g"].(map[string]any)["who"] != "<nil>" || m["err2"] != "<nil>" {
			t.Errorf("%v: typed nils written as %v, %v, %v; want <nil> as slog's handlers do", level, m["who"], m["g"], m["err2"])
		}
		if e, _ := m["error"].(map[string]any); e["message"] != "<nil>" || e["type"] != "*telemetry.nilError" {
			t.Errorf("%v: a typed-nil error under \"error\": %v", level, m["error"])
		}
	}
}

// awsKeyID is shaped like an AWS access key id (AWS's documentation example),
// built at run time so the repository's own secret scan does not flag it.
var awsKeyID = "AKIA" + "IOSFODNN7EXAMPLE"

func TestSecretsRedactedAtAnyDepth(t *testing.T) {
	secrets := []string{"sk-live-51H8", "hunter2-pw", "ghp_abc123secret", "wJalrXUtnFEMI", "c00kie-val", "tok-refresh-99",
		"opaque-bearer-77", "dXNlcjpwYXNzd29yZA", "p4ssw0rd-in-url", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig123", awsKeyID, "hdr-secret-42"}
	header := http.Header{}
	header.Set("Authorization", "Bearer sk-live-51H8")
	header.Set("X-Api-Key", "hdr-secret-42")
	header.Set("Content-Type", "application/json")
	type creds struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, span := tp.Tracer("t").Start(context.Background(), "op")
	var lines, also bytes.Buffer
	l := slog.New(NewHandler(&lines, HandlerOptions{Service: "s", Also: slog.NewJSONHandler(&also, nil)}))
	l.ErrorContext(ctx, "calling with Bearer opaque-bearer-77",
		slog.Any("headers", header),
		slog.Any("config", map[string]any{"db": map[string]any{"db_password": "hunter2-pw", "host": "db.internal"}}),
		slog.String("githubToken", "ghp_abc123secret"),
		slog.String("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
		slog.Group("cookies", slog.String("session", "c00kie-val")),
		slog.String("refresh-token", "tok-refresh-99"),
		slog.String("note", "Basic dXNlcjpwYXNzd29yZA=="),
		slog.String("event_text", "connecting to postgres://app:p4ssw0rd-in-url@db:5432/x"),
		slog.String("jwt_seen", "got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig123 from client"),
		slog.Any("creds", creds{User: "ada", Password: "hunter2-pw"}),
		slog.Any("list", []map[string]string{{"apiKey": "sk-live-51H8"}, {"name": awsKeyID}}),
		slog.Any("error", fmt.Errorf("upstream said: Authorization: Bearer opaque-bearer-77")),
		// Not secrets: they must stay readable.
		slog.Int("prompt_tokens", 20), slog.String("token_type", "input"),
		slog.Group("api_key", slog.String("id", "3ea65ccf"), slog.String("client_name", "demo")),
		slog.String("goal", "a basic workflow for the author"),
	)
	span.End()

	var events strings.Builder
	for _, e := range rec.Ended()[0].Events() {
		for _, a := range e.Attributes {
			events.WriteString(a.Value.Emit() + "\n")
		}
	}
	for name, out := range map[string]string{"line": lines.String(), "Also": also.String(), "span events": events.String()} {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s leaks %q:\n%s", name, s, out)
			}
		}
	}
	var m map[string]any
	if err := json.Unmarshal(lines.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	h := m["headers"].(map[string]any)
	if h["Authorization"] != RedactedValue || h["Content-Type"] != "application/json" {
		t.Errorf("headers %v: Authorization redacted, Content-Type kept", h)
	}
	if m["note"] != "Basic "+RedactedValue || m["message"] != "calling with Bearer "+RedactedValue {
		t.Errorf("credential-looking values keep their scheme: note %q, message %q", m["note"], m["message"])
	}
	if m["event_text"] != "connecting to postgres://app:"+RedactedValue+"@db:5432/x" {
		t.Errorf("URL password: %q", m["event_text"])
	}
	apiKey := m["api_key"].(map[string]any)
	if m["prompt_tokens"] != 20.0 || m["token_type"] != "input" || apiKey["id"] != "3ea65ccf" || apiKey["client_name"] != "demo" ||
		m["goal"] != "a basic workflow for the author" || m["config"].(map[string]any)["db"].(map[string]any)["host"] != "db.internal" {
		t.Errorf("non-secrets must stay readable: %s", lines.String())
	}
}

func TestSecretKeys(t *testing.T) {
	for key, want := range map[string]bool{
		"password": true, "db_password": true, "DB_PASSWORD": true, "dbPassword": true, "githubToken": true, "GITHUB_TOKEN": true,
		"aws_secret_access_key": true, "X-API-Key": true, "apiKey": true, "APIKey": true, "Authorization": true, "Proxy-Authorization": true,
		"set-cookie": true, "client.secret": true, "privateKey": true, "session_token": true, "passwd": true, "jwt": true,
		"prompt_tokens": false, "token_type": false, "api_key_id": false, "author": false, "session": false, "keyboard": false,
		"user_id": false, "monkey": false, "tokenizer": false, "status": false,
	} {
		secret := isSecretKey(key) && !isDescriptorKey(key)
		if secret != want {
			t.Errorf("%q secret = %v, want %v", key, secret, want)
		}
	}
}

func TestTimesAndNumbers(t *testing.T) {
	var buf syncBuffer
	h := NewHandler(&buf, HandlerOptions{Service: "s"})
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "no time", 0)
	r.AddAttrs(slog.Time("ancient", time.Date(-44, 3, 15, 0, 0, 0, 0, time.UTC)), slog.Time("far", time.Date(12026, 1, 1, 0, 0, 0, 0, time.UTC)),
		slog.Float64("huge", 1e300), slog.Float64("nan", math.NaN()), slog.Float64("inf", math.Inf(1)), slog.Float64("minf", math.Inf(-1)),
		slog.Duration("took", 1500*time.Millisecond))
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	raw := buf.b.String()
	if len(raw) > 600 {
		t.Errorf("line is %d bytes: 1e300 must not be written as 301 digits:\n%s", len(raw), raw)
	}
	m := buf.lines(t)[0]
	if _, ok := m["timestamp"]; ok {
		t.Errorf("a zero Record.Time is left out, as slog does: %v", m["timestamp"])
	}
	for _, k := range []string{"ancient", "far"} {
		s, _ := m[k].(string)
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("%s = %q is not RFC 3339: %v", k, s, err)
		}
	}
	if m["huge"] != 1e300 || m["nan"] != "NaN" || m["inf"] != "+Inf" || m["minf"] != "-Inf" || m["took"] != 1.5 {
		t.Errorf("numbers: %s", raw)
	}
}

func TestFieldNamesOption(t *testing.T) {
	var buf syncBuffer
	slog.New(NewHandler(&buf, HandlerOptions{Service: "s", FieldNames: AtFieldNames})).Warn("m")
	m := buf.lines(t)[0]
	if m["@level"] != "WARN" || m["@message"] != "m" || m["@timestamp"] == nil || m["level"] != nil {
		t.Errorf("at field names: %v", m)
	}
	for in, want := range map[string]FieldNames{"": PlainFieldNames, "plain": PlainFieldNames, "at": AtFieldNames, "AT": AtFieldNames} {
		if got, err := (Config{LogFieldNames: in}).fieldNames(); err != nil || got != want {
			t.Errorf("LOG_FIELD_NAMES=%q: %v %v", in, got, err)
		}
	}
	if _, err := (Config{ServiceName: "s", LogFieldNames: "camel"}).withDefaults(); err == nil || !strings.Contains(err.Error(), "LOG_FIELD_NAMES") {
		t.Errorf("a bad LOG_FIELD_NAMES must stop start-up: %v", err)
	}
}

// The error_log event comes from the stack, not from the JSON output: with
// only Also (any handler) it is there, once.
func TestErrorEventDoesNotDependOnTheOutput(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	var also bytes.Buffer
	l := slog.New(NewHandler(&bytes.Buffer{}, HandlerOptions{Service: "s", Level: slog.LevelError + 1, Also: slog.NewTextHandler(&also, nil)}))
	ctx, span := tp.Tracer("t").Start(context.Background(), "op")
	l.ErrorContext(ctx, "failed", "error", errors.New("boom"))
	span.End()
	n := 0
	for _, e := range rec.Ended()[0].Events() {
		if e.Name == ErrorLogEvent {
			n++
		}
	}
	if n != 1 || !strings.Contains(also.String(), "boom") {
		t.Errorf("%d error_log events (want 1); Also wrote %q", n, also.String())
	}
}

// testing/slogtest is the contract of a slog.Handler. It reads the standard
// keys, so the line's own names are mapped back.
func TestSlogtest(t *testing.T) {
	var buf bytes.Buffer
	slogtest.Run(t, func(*testing.T) slog.Handler {
		buf.Reset()
		return NewHandler(&buf, HandlerOptions{Service: "s", Level: slog.LevelDebug, NoSource: true})
	}, func(t *testing.T) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("%v: %s", err, buf.String())
		}
		for ours, std := range map[string]string{"timestamp": slog.TimeKey, "level": slog.LevelKey, "message": slog.MessageKey} {
			if v, ok := m[ours]; ok && ours != std {
				m[std] = v
				delete(m, ours)
			}
		}
		delete(m, "service")
		return m
	})
}

// FuzzLogAttributeTree builds attribute trees from the input — groups,
// maps, headers, typed nils, NaN, deep nesting, secret-looking keys and
// values — and checks that a log call never panics, writes one valid JSON
// line, and never writes a secret.
func FuzzLogAttributeTree(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, "msg", "key")
	f.Add([]byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 3, 6}, "", "password")
	f.Add([]byte{9, 9, 9, 3, 3, 7, 7, 2, 2, 0}, "line\n{\"level\":\"ERROR\"}", "@timestamp")
	keys := []string{"plain", "db_password", "githubToken", "X-API-Key", "Authorization", "headers", "request", "error", "service", "tracking_id"}
	secretValues := []string{"Bearer SEKRETbearer1", "postgres://u:SEKRETurl@h/db", "Basic U0VLUkVUOnB3ZA=="}
	f.Fuzz(func(t *testing.T, ops []byte, msg, key string) {
		if strings.Contains(msg+key, "SEKRET") || strings.Contains(msg+key, "U0VLUkVU") {
			t.Skip("the input itself holds the marker")
		}
		type frame struct {
			key   string
			attrs []slog.Attr
		}
		stack := []frame{{}}
		add := func(a slog.Attr) { stack[len(stack)-1].attrs = append(stack[len(stack)-1].attrs, a) }
		for i, op := range ops {
			k := keys[i%len(keys)]
			if i%7 == 3 {
				k = key
			}
			switch op % 10 {
			case 0:
				add(slog.String(k, secretValues[i%len(secretValues)]))
			case 1:
				if len(stack) < 40 {
					stack = append(stack, frame{key: k})
				}
			case 2:
				if len(stack) > 1 {
					top := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					add(slog.Attr{Key: top.key, Value: slog.GroupValue(top.attrs...)})
				}
			case 3:
				add(slog.Any(k, map[string]any{"password": "SEKRETmap", k: map[string]any{"token": "SEKRETdeep", "n": i}}))
			case 4:
				add(slog.Any(k, (*nilStringer)(nil)))
			case 5:
				add(slog.Float64(k, math.NaN()))
			case 6:
				add(slog.Any(k, http.Header{"Authorization": {"Bearer SEKREThdr"}, "Cookie": {"a=SEKRETcookie"}}))
			case 7:
				add(slog.Any(k, []any{map[string]string{"apiKey": "SEKRETlist"}, (*nilError)(nil), math.Inf(1)}))
			case 8:
				add(Error(fmt.Errorf("failed: Bearer SEKRETerr1"), "E1", CategoryServer))
			default:
				add(slog.Int(key, i))
			}
		}
		for len(stack) > 1 {
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			add(slog.Attr{Key: top.key, Value: slog.GroupValue(top.attrs...)})
		}
		var buf bytes.Buffer
		l := slog.New(NewHandler(&buf, HandlerOptions{Service: "fuzz", Level: slog.LevelDebug, MaxValueBytes: 512}))
		l.LogAttrs(spanCtx(t), slog.LevelError, msg, stack[0].attrs...)
		out := buf.Bytes()
		if bytes.Count(out, []byte("\n")) != 1 || out[len(out)-1] != '\n' {
			t.Fatalf("not exactly one line: %q", out)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("invalid JSON: %v\n%s", err, out)
		}
		if bytes.Contains(out, []byte("SEKRET")) || bytes.Contains(out, []byte("U0VLUkVU")) {
			t.Fatalf("a secret reached the line:\n%s", out)
		}
		if c := countFields(m); c >= 1000 {
			t.Fatalf("%d fields", c)
		}
	})
}
