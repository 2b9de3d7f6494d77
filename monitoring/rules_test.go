package monitoring_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// cannotRun ends a test whose prerequisite is missing: a skip with the reason
// on a developer machine, a failure in CI (CI set), where make test installs
// everything first and a skip would hide a test that never ran.
func cannotRun(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format+" (CI is set: a test must run, not skip)", args...)
	}
	t.Skipf(format, args...)
}

// requireTool returns the path of a command-line tool, or ends the test
// with cannotRun (make test installs promtool and amtool with
// scripts/install-prometheus.sh).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		cannotRun(t, "%s not installed: scripts/install-prometheus.sh installs it", name)
	}
	return p
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(requireTool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func TestAlertRulesValid(t *testing.T) {
	run(t, "promtool", "check", "rules", "alert-rules.yml")
}

func TestAlertRulesUnitTests(t *testing.T) {
	run(t, "promtool", "test", "rules", "alert-rules.test.yaml")
}

// Every file the rule_files globs of the Prometheus configs match must be a
// rule file: a promtool test file there (alert-rules.test.yml would match
// "alert-rules*.yml") makes Prometheus refuse its whole configuration.
func TestRuleFilesGlobMatchesOnlyRuleFiles(t *testing.T) {
	for _, cfg := range []string{"prometheus.yml", "prometheus.docker.yml"} {
		var p promConfig
		readYAML(t, cfg, &p)
		var matched []string
		for _, g := range p.RuleFiles {
			m, err := filepath.Glob(g)
			if err != nil {
				t.Fatalf("%s: rule_files %q: %v", cfg, g, err)
			}
			matched = append(matched, m...)
		}
		if !slices.Contains(matched, "alert-rules.yml") {
			t.Errorf("%s: rule_files %v do not load alert-rules.yml", cfg, p.RuleFiles)
		}
		for _, f := range matched {
			var probe map[string]any
			readYAML(t, f, &probe)
			if _, ok := probe["groups"]; !ok || len(probe) != 1 {
				t.Errorf("%s loads %s, which is not a rule file (keys %v)", cfg, f, keys(probe))
			}
		}
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// The contract other parts rely on (e2e tests, Alertmanager routing, the
// dashboards), checked without promtool.
func TestAlertRulesContract(t *testing.T) {
	var rf ruleFile
	readYAML(t, "alert-rules.yml", &rf)
	alerts := map[string]string{} // name -> for
	records := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				records[r.Record] = true
				continue
			}
			alerts[r.Alert] = r.For
			if s := r.Labels["severity"]; s != "page" && s != "ticket" {
				t.Errorf("%s: severity %q, want page or ticket", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			if !strings.HasPrefix(r.Annotations["runbook_url"], "docs/runbooks.md#") {
				t.Errorf("%s: runbook_url %q", r.Alert, r.Annotations["runbook_url"])
			}
		}
	}
	for _, w := range []string{"5m", "30m", "1h", "2h", "6h", "1d", "3d"} {
		if !records["slo:request_error_ratio:rate"+w] {
			t.Errorf("recording rule slo:request_error_ratio:rate%s missing", w)
		}
	}
	if !records["ai:cost_budget_usd:daily"] {
		t.Error("recording rule ai:cost_budget_usd:daily missing (the AI dashboard draws it)")
	}
	for _, name := range []string{
		"SLOErrorBudgetBurnFast", "SLOErrorBudgetBurnHigh", "SLOErrorBudgetBurnSlow", "SLOErrorBudgetBurnSteady",
		"HighRequestLatencyP95", "ServiceDown", "CollectorDown",
		"AICostProjectedOverDailyBudget", "AICostOverDailyBudget", "FreeTierActiveSeriesNearLimit",
		"OTelCollectorReceiverRefusing", "OTelCollectorExporterSendFailed", "OTelCollectorExporterDropping",
		"OTelCollectorExporterQueueNearlyFull",
	} {
		if _, ok := alerts[name]; !ok {
			t.Errorf("alert %s missing", name)
		}
	}
	// Burn-rate alerts reset through their short window, not through `for:`
	// (the e2e test expects the fast burn to fire within about a minute).
	for name, f := range alerts {
		if strings.HasPrefix(name, "SLOErrorBudgetBurn") && f != "" {
			t.Errorf("%s has for: %s; burn-rate alerts must not", name, f)
		}
	}
	if alerts["HighRequestLatencyP95"] != "5m" {
		t.Errorf("HighRequestLatencyP95 for: %q, want 5m", alerts["HighRequestLatencyP95"])
	}
}

type amConfig struct {
	Route struct {
		Receiver       string   `yaml:"receiver"`
		GroupBy        []string `yaml:"group_by"`
		GroupWait      string   `yaml:"group_wait"`
		GroupInterval  string   `yaml:"group_interval"`
		RepeatInterval string   `yaml:"repeat_interval"`
		Routes         []any    `yaml:"routes"`
	} `yaml:"route"`
	Receivers []struct {
		Name           string `yaml:"name"`
		WebhookConfigs []struct {
			URL          string `yaml:"url"`
			SendResolved *bool  `yaml:"send_resolved"`
		} `yaml:"webhook_configs"`
	} `yaml:"receivers"`
}

func TestAlertmanagerConfig(t *testing.T) {
	var c amConfig
	readYAML(t, "alertmanager.yml", &c)
	r := c.Route
	if r.Receiver != "oncall" || len(r.Routes) != 0 {
		t.Errorf("route: receiver %q with %d sub-routes, want everything to oncall", r.Receiver, len(r.Routes))
	}
	if !slices.Equal(r.GroupBy, []string{"alertname", "environment", "service"}) {
		t.Errorf("group_by %v", r.GroupBy)
	}
	if r.GroupWait != "5s" || r.GroupInterval != "30s" || r.RepeatInterval != "4h" {
		t.Errorf("group_wait %s group_interval %s repeat_interval %s", r.GroupWait, r.GroupInterval, r.RepeatInterval)
	}
	if len(c.Receivers) != 1 || c.Receivers[0].Name != "oncall" || len(c.Receivers[0].WebhookConfigs) != 1 {
		t.Fatalf("receivers: %+v", c.Receivers)
	}
	wh := c.Receivers[0].WebhookConfigs[0]
	if wh.URL != "http://127.0.0.1:9095/alertmanager" || wh.SendResolved == nil || !*wh.SendResolved {
		t.Errorf("oncall webhook: url %q send_resolved %v", wh.URL, wh.SendResolved)
	}
	run(t, "amtool", "check-config", "alertmanager.yml")
}

type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			Datasource *struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title      string `json:"title"`
	Type       string `json:"type"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // collapsed rows
}

var dashVarRe = regexp.MustCompile(`\$\{?(\w+)`)

// Dashboards: valid JSON, Prometheus data source as the ${datasource}
// variable, environment and service variables, and only variables the e2e
// test (e2e/dashboards_test.go) knows how to substitute. Whether each query
// returns data is that e2e test's job.
func TestDashboardsJSON(t *testing.T) {
	files, _ := filepath.Glob("dashboards/*.json")
	for _, want := range []string{"red.json", "ai.json", "business.json", "free-tier.json"} {
		if !slices.Contains(files, filepath.Join("dashboards", want)) {
			t.Errorf("dashboards/%s missing", want)
		}
	}
	uids := map[string]string{}
	known := map[string]bool{"environment": true, "service": true, "__rate_interval": true, "__range": true}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if d.Title == "" || d.UID == "" || d.SchemaVersion < 36 {
			t.Errorf("%s: title %q uid %q schemaVersion %d", f, d.Title, d.UID, d.SchemaVersion)
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share uid %s", f, other, d.UID)
		}
		uids[d.UID] = f
		vars := map[string]string{}
		for _, v := range d.Templating.List {
			vars[v.Name] = v.Type
			if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != "${datasource}") {
				t.Errorf("%s: variable %s does not query ${datasource}", f, v.Name)
			}
		}
		if vars["datasource"] != "datasource" || vars["environment"] != "query" || vars["service"] != "query" {
			t.Errorf("%s: template variables %v, want datasource, environment, service", f, vars)
		}
		n := 0
		var walk func(ps []panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				walk(p.Panels)
				if p.Type == "row" {
					continue
				}
				if p.Datasource == nil || p.Datasource.UID != "${datasource}" || p.Datasource.Type != "prometheus" {
					t.Errorf("%s / %q: panel data source is not ${datasource}", f, p.Title)
				}
				if len(p.Targets) == 0 {
					t.Errorf("%s / %q: no targets", f, p.Title)
				}
				for _, tg := range p.Targets {
					n++
					if strings.TrimSpace(tg.Expr) == "" {
						t.Errorf("%s / %q / %s: empty expr", f, p.Title, tg.RefID)
					}
					if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
						t.Errorf("%s / %q / %s: target data source is not ${datasource}", f, p.Title, tg.RefID)
					}
					for _, m := range dashVarRe.FindAllStringSubmatch(tg.Expr, -1) {
						if !known[m[1]] {
							t.Errorf("%s / %q / %s: variable $%s is not substituted by the e2e test", f, p.Title, tg.RefID, m[1])
						}
					}
				}
			}
		}
		walk(d.Panels)
		if n == 0 {
			t.Errorf("%s: no queries", f)
		}
	}
}
