package lookup

import (
	"fmt"
	"regexp"
)

var (
	timestampRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)
	spanIDRe    = regexp.MustCompile(`^[0-9a-f]{16}$`)
)

// MaxLogFields is CloudWatch Logs Insights' limit: fields past it are dropped.
const MaxLogFields = 1000

// LogObjects are the nested objects a log line may carry; each must be an object.
var LogObjects = []string{"request", "response", "user", "session", "workflow", "operation", "error", "exception", "source"}

// CheckLogLine validates one decoded log line against the CloudWatch shape
// every service writes by default: timestamp (UTC, milliseconds), level,
// message, service; tracking_id and tracing{trace_id,span_id} together and
// equal; nested objects; fewer than MaxLogFields fields.
func CheckLogLine(l map[string]any) error {
	ts, _ := l["timestamp"].(string)
	if !timestampRe.MatchString(ts) {
		return fmt.Errorf("timestamp %q is not UTC millisecond RFC 3339", l["timestamp"])
	}
	switch l["level"] {
	case "DEBUG", "INFO", "WARN", "ERROR":
	default:
		return fmt.Errorf("level %v", l["level"])
	}
	if _, ok := l["message"].(string); !ok {
		return fmt.Errorf("message missing")
	}
	if s, _ := l["service"].(string); s == "" {
		return fmt.Errorf("service missing")
	}
	tid, hasTID := l["tracking_id"]
	tr, hasTracing := l["tracing"].(map[string]any)
	if hasTID != hasTracing {
		return fmt.Errorf("tracking_id and tracing must come together")
	}
	if hasTID {
		if s, _ := tid.(string); !trackingIDRe.MatchString(s) || s == "00000000000000000000000000000000" {
			return fmt.Errorf("tracking_id %v", tid)
		}
		if tr["trace_id"] != tid {
			return fmt.Errorf("tracing.trace_id %v != tracking_id %v", tr["trace_id"], tid)
		}
		if s, _ := tr["span_id"].(string); !spanIDRe.MatchString(s) {
			return fmt.Errorf("tracing.span_id %v", tr["span_id"])
		}
	}
	for _, obj := range LogObjects {
		if v, ok := l[obj]; ok {
			if _, isObj := v.(map[string]any); !isObj {
				return fmt.Errorf("%s is not an object: %v", obj, v)
			}
		}
	}
	if n := LeafCount(l); n >= MaxLogFields {
		return fmt.Errorf("%d fields", n)
	}
	return nil
}

// LeafCount counts the fields of a decoded line the way CloudWatch does:
// every leaf of the nested objects.
func LeafCount(v any) int {
	if m, ok := v.(map[string]any); ok {
		n := 0
		for _, c := range m {
			n += LeafCount(c)
		}
		return n
	}
	return 1
}
