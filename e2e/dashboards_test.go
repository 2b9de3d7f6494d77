package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/starmates-ai/ai-teams/internal/lookup"
	"github.com/starmates-ai/ai-teams/services/apigateway"
)

// TestStackDashboards drives traffic through a gateway, agent and engine of
// its own (service names no other run uses), then runs the query of every
// panel of every dashboard in monitoring/dashboards against the stack's
// Prometheus and fails, naming the dashboard and panel, when a query is
// invalid or still returns nothing after a minute. It also checks that the
// environment and service template variables list something.
//
// Template variables are substituted the simple way: $service becomes this
// test's own service names, so a panel about the services shows data only
// if this run's requests made it; $environment becomes .*; $__range is the
// time since the test started and $__rate_interval 1m. Panels about the
// stack itself (collector, Prometheus) see its current state.
func TestStackDashboards(t *testing.T) {
	requireStack(t)
	tr := startTrio(t)
	begin := time.Now()

	// Traffic for every panel family: sessions, workflows that complete, partly
	// fail and fail (#partial, #fail), a workflow read, a validation error, an
	// authentication error and an unmatched route.
	countQ := fmt.Sprintf(`sum(request_count{service=%q,endpoint=~"/api/v1/.*"})`, tr.services[0])
	sent := dashboardTraffic(t, tr)
	poll(t, 60*time.Second, "dashboard traffic counted in Prometheus", func() (bool, string) {
		now := promScalar(t, prometheusURL, countQ)
		return now >= float64(sent), fmt.Sprintf("count %v, want %v", now, sent)
	})
	vars := map[string]string{
		"environment":     ".*",
		"service":         tr.serviceRegex(),
		"__rate_interval": "1m",
	}
	queries := dashboardQueries(t)
	if len(queries) == 0 {
		t.Fatal("no dashboard queries found in monitoring/dashboards")
	}

	// Poll every query that has no data yet, once a second, for 60 s after the
	// traffic is visible (metrics arrive within ~10 s: SDK export 5 s, scrape 5 s).
	// An invalid query fails at once; it will not get better.
	start := time.Now()
	for {
		pending := 0
		for _, q := range queries {
			if q.done {
				continue
			}
			// The time range is this test's: from its start to this query.
			vars["__range"] = fmt.Sprintf("%ds", int(time.Since(begin).Seconds())+1)
			expr, serr := substitute(q.raw, vars)
			q.expr = expr
			n, perr, err := 0, "", error(nil)
			if serr == nil {
				n, perr, err = instantQuery(expr)
			}
			switch {
			case serr != nil:
				q.done, q.failure = true, serr.Error()
			case perr != "":
				q.done, q.failure = true, "query error: "+perr
			case err != nil:
				q.failure = err.Error()
				pending++
			case n == 0:
				q.failure = "no data"
				pending++
			default:
				q.done, q.failure = true, ""
			}
		}
		if pending == 0 || time.Since(start) > 60*time.Second {
			break
		}
		time.Sleep(time.Second)
	}

	// One subtest per dashboard and panel, so the report names what is missing.
	byDash := map[string][]*dashQuery{}
	var dashes []string
	for _, q := range queries {
		if byDash[q.dashboard] == nil {
			dashes = append(dashes, q.dashboard)
		}
		byDash[q.dashboard] = append(byDash[q.dashboard], q)
	}
	ok := 0
	for _, d := range dashes {
		t.Run(d, func(t *testing.T) {
			for _, q := range byDash[d] {
				t.Run(q.panel, func(t *testing.T) {
					if q.failure != "" {
						t.Errorf("dashboard %s, panel %q, query %s: %s\n  expr (substituted): %s",
							d, q.panel, q.refID, q.failure, q.expr)
					}
				})
				if q.failure == "" {
					ok++
				}
			}
		})
	}
	measure(t, "dashboards: %d of %d panel queries returned data (polled up to 60s after the traffic was visible; %v)",
		ok, len(queries), time.Since(start).Round(time.Second))
}

type dashQuery struct {
	dashboard, panel, refID string
	raw, expr               string // as in the dashboard; as last queried
	done                    bool
	failure                 string
}

type grafanaPanel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // collapsed rows keep their panels here
}

type grafanaDashboard struct {
	Title      string         `json:"title"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"` // a string, or {"query": "..."} in newer Grafana
		} `json:"list"`
	} `json:"templating"`
}

// Simple substitution of the variables the dashboards use; an unknown one
// is reported as a failure of its panel.
var (
	grafanaVarRe   = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`)
	labelValuesRe  = regexp.MustCompile(`^\s*label_values\((.*),\s*(\w+)\s*\)\s*$`)
	labelValues1Re = regexp.MustCompile(`^\s*label_values\(\s*(\w+)\s*\)\s*$`)
)

func substitute(expr string, vars map[string]string) (string, error) {
	var unknown []string
	out := grafanaVarRe.ReplaceAllStringFunc(expr, func(m string) string {
		sm := grafanaVarRe.FindStringSubmatch(m)
		name := sm[1] + sm[2]
		v, ok := vars[name]
		if !ok {
			unknown = append(unknown, "$"+name)
			return m
		}
		return v
	})
	if len(unknown) > 0 {
		return out, fmt.Errorf("unknown template variable(s) %v", unknown)
	}
	return out, nil
}

func dashboardQueries(t *testing.T) []*dashQuery {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "monitoring", "dashboards", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	var out []*dashQuery
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d grafanaDashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		name := filepath.Base(f)
		add := func(panel, refID, expr string) {
			out = append(out, &dashQuery{dashboard: name, panel: panel, refID: refID, raw: expr})
		}
		// Template variables of type query: label_values(metric{...}, label)
		// lists something when count by (label) (metric{...}) does.
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			def := ""
			switch q := v.Query.(type) {
			case string:
				def = q
			case map[string]any:
				def, _ = q["query"].(string)
			}
			if m := labelValuesRe.FindStringSubmatch(def); m != nil {
				add("variable $"+v.Name, "label_values", fmt.Sprintf("count by (%s) (%s)", m[2], m[1]))
			} else if m := labelValues1Re.FindStringSubmatch(def); m != nil {
				add("variable $"+v.Name, "label_values", fmt.Sprintf(`count by (%s) ({%s!=""})`, m[1], m[1]))
			} else {
				add("variable $"+v.Name, "query", def)
			}
		}
		var walk func(ps []grafanaPanel)
		walk = func(ps []grafanaPanel) {
			for _, p := range ps {
				walk(p.Panels)
				for _, tg := range p.Targets {
					if strings.TrimSpace(tg.Expr) == "" {
						continue
					}
					add(p.Title, tg.RefID, tg.Expr)
				}
			}
		}
		walk(d.Panels)
	}
	return out
}

// instantQuery runs an instant query and counts the series (a scalar
// counts as one). perr is Prometheus' error for an invalid query; err is a
// problem worth retrying.
func instantQuery(q string) (n int, perr string, err error) {
	samples, err := lookup.Prometheus{BaseURL: prometheusURL}.Query(context.Background(), q)
	var refused *lookup.RefusedError
	switch {
	case errors.As(err, &refused) && (refused.Type == "bad_data" || refused.HTTPStatus == http.StatusBadRequest || refused.HTTPStatus == http.StatusUnprocessableEntity):
		return 0, refused.Type + ": " + refused.Message, nil
	case err != nil:
		return 0, "", err
	}
	return len(samples), "", nil
}

// dashboardTraffic sends the requests and returns how many went to /api/v1
// routes the gateway matched (for the wait on Prometheus). Requests that
// break the contract go raw; the rest through the typed client.
func dashboardTraffic(t *testing.T, tr trio) int {
	t.Helper()
	const user = "user_dashboards"
	ctx := context.Background()
	gw := tr.client
	sent := 0
	sess, _, err := gw.CreateSession(ctx, apigateway.CreateSessionRequest{UserID: user})
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	if _, _, err := gw.GetSession(ctx, sess.ID); err != nil {
		t.Fatalf("read session: %v", err)
	}
	sent += 2
	var run *apigateway.WorkflowRun
	for _, goal := range []string{
		"dashboards: plan the launch",
		"dashboards: prepare the release notes #partial",
		"dashboards: migrate the database #fail",
	} {
		if run, _, err = gw.CreateWorkflow(ctx, apigateway.CreateWorkflowRequest{UserID: user, SessionID: sess.ID, Goal: goal}); err != nil {
			t.Fatalf("workflow run: %v", err)
		}
		sent++
	}
	if _, _, err := gw.GetWorkflow(ctx, run.ID); err != nil {
		t.Fatalf("read workflow run: %v", err)
	}
	sent++
	// A validation error (unknown field) and an authentication error.
	callGateway(t, tr.gateway, tr.key, "POST", apigateway.WorkflowsPath, fmt.Sprintf(`{"user_id":%q,"goal":"x","unknown":1}`, user), http.StatusBadRequest)
	_, _, err = apigateway.NewClient(tr.gateway, "", nil).GetSession(ctx, sess.ID)
	wantRemoteError(t, err, http.StatusUnauthorized, "unauthorized")
	sent += 2
	// No route: endpoint "unmatched".
	callGateway(t, tr.gateway, tr.key, "GET", "/api/v1/no-such-route", "", http.StatusNotFound)
	return sent
}
