package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/starmates-ai/ai-teams/telemetry"
)

var (
	sqlBlockRe = regexp.MustCompile("(?s)```sql\n(.*?)```")
	// A field: @name or @@name, or dotted names like request.route (not function calls).
	fieldRe = regexp.MustCompile(`@@?[a-zA-Z]+|\b[a-z_]+\.[a-z_]+\b`)
	// Bare top-level fields used in queries.
	bareFields = []string{"service", "tracking_id", "dropped_fields", "level", "message"}
	// CloudWatch's own fields, on every event whatever it holds.
	systemFields = map[string]bool{"@timestamp": true, "@message": true, "@logStream": true, "@log": true, "@ingestionTime": true}
)

// TestStackCloudWatchQueriesUseRealFields checks docs/cloudwatch.md against the
// lines the running services actually wrote.
func TestStackCloudWatchQueriesUseRealFields(t *testing.T) {
	key := requireStack(t)
	// Make sure the stack has written every kind of line the queries use.
	postWorkflow(t, key, "release notes #partial")
	postWorkflow(t, key, "draft #fail")

	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "cloudwatch.md"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, svc := range stackServices {
		for _, l := range stackLogLines(t, svc) {
			flatten("", l, seen)
		}
	}
	blocks := sqlBlockRe.FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 6 {
		t.Fatalf("only %d queries found in docs/cloudwatch.md", len(blocks))
	}
	for _, b := range blocks {
		q := b[1]
		fields := fieldRe.FindAllString(q, -1)
		for _, bf := range bareFields {
			if regexp.MustCompile(`\b` + bf + `\b`).MatchString(q) {
				fields = append(fields, bf)
			}
		}
		for _, f := range fields {
			if systemFields[f] {
				continue
			}
			if strings.HasPrefix(f, "@@") { // a logged "@x", as Logs Insights shows it
				if ts, lv, msg := telemetry.AtFieldNames.Keys(); f[1:] != ts && f[1:] != lv && f[1:] != msg {
					t.Errorf("query uses %s, but LOG_FIELD_NAMES=at writes %s, %s and %s", f, ts, lv, msg)
				}
				continue
			}
			if f == "dropped_fields" {
				continue // written only past the field budget: telemetry.TestFieldBudget covers it
			}
			if !seen[f] {
				t.Errorf("query uses %s, which no service wrote:\n%s", f, strings.TrimSpace(q))
			}
		}
	}
}

func flatten(prefix string, m map[string]any, out map[string]bool) {
	for k, v := range m {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok {
			flatten(name, sub, out)
			continue
		}
		out[name] = true
	}
}
