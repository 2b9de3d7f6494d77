package telemetry

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
)

// FuzzHandler builds records from arbitrary keys, values, group names and
// nesting and asserts every line is one valid JSON object, ends in exactly
// one newline, and has fewer than 1000 fields.
func FuzzHandler(f *testing.F) {
	f.Add("msg\n", "key", "value", "group", uint16(3), uint8(2))
	f.Add("", "", "\x00\xff\u2028", "", uint16(1200), uint8(5))
	f.Add("m", "service", "x\r\n{\"@level\":\"ERROR\"}", "request", uint16(950), uint8(1))
	f.Add("m", "authorization", "Bearer t", "tracing", uint16(10), uint8(0))
	f.Fuzz(func(t *testing.T, msg, key, val, group string, n uint16, depth uint8) {
		var buf bytes.Buffer
		var h slog.Handler = NewHandler(&buf, HandlerOptions{Service: "fuzz", Level: slog.LevelDebug, MaxValueBytes: 256})
		for i := range int(depth % 6) {
			h = h.WithAttrs([]slog.Attr{slog.String(key, val), slog.Int(group, i)}).WithGroup(group)
		}
		count := int(n % 3000)
		attrs := make([]slog.Attr, 0, count+2)
		for i := range count {
			switch i % 4 {
			case 0:
				attrs = append(attrs, slog.String(key, val))
			case 1:
				attrs = append(attrs, slog.Group(group, slog.String(val, key), slog.Int("i", i)))
			case 2:
				attrs = append(attrs, slog.Any(val, map[string]string{key: val}))
			default:
				attrs = append(attrs, slog.Group("", slog.Float64(key, float64(i)/3)))
			}
		}
		r := record(slog.LevelError, msg, attrs...)
		if err := h.Handle(spanCtx(t), r); err != nil {
			t.Fatal(err)
		}
		line := buf.Bytes()
		if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
			t.Fatalf("not exactly one line: %q", line)
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("invalid JSON: %v\n%s", err, line)
		}
		if c := countFields(m); c >= 1000 {
			t.Fatalf("%d fields", c)
		}
		if m["service"] != "fuzz" || m["message"] != truncateForTest(msg) {
			t.Fatalf("required fields lost: %v %v", m["service"], m["message"])
		}
	})
}

// truncateForTest mirrors how the handler renders a message (invalid UTF-8
// becomes U+FFFD through JSON encoding).
func truncateForTest(s string) string {
	raw, _ := json.Marshal(truncate(s, 256))
	var out string
	_ = json.Unmarshal(raw, &out)
	return out
}
