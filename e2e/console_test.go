package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var consoleListenRe = regexp.MustCompile(`aiteams console listening on (http://\S+)`)

// startConsole runs `aiteams console` of this build from the repository
// root, as make demo does, on a port the kernel picks; extra flags are added.
func startConsole(t *testing.T, flags ...string) string {
	t.Helper()
	root := repoRoot(t)
	out, exited := startProcess(t, "console", root, nil, filepath.Join(root, ".bin", "aiteams"), append([]string{"console", "-addr", "127.0.0.1:0"}, flags...)...)
	addr := reportedAddr(t, "console", out, exited, func() string {
		if m := consoleListenRe.FindStringSubmatch(out.tail(4096)); m != nil {
			return m[1]
		}
		return ""
	})
	waitHealthy(t, addr+"/healthz")
	return addr
}

// screenshotDir is where the browser test saves its pictures: docs/img when
// scripts/screenshots.sh runs it, else .run/screenshots.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("AITEAMS_SCREENSHOTS"); d != "" {
		return d
	}
	return filepath.Join(repoRoot(t), ".run", "screenshots")
}

// TestStackConsole opens the console in Chromium against the running stack,
// as a person after make demo would: finds a request by pasting its
// traceparent, reads its waterfall, failed step, log lines and row, picks a
// span, then looks at service health and follows an exemplar.
func TestStackConsole(t *testing.T) {
	key := requireStack(t)
	tid, _ := postWorkflow(t, key, "console check #partial")
	for _, goal := range []string{"console traffic", "console traffic #fail", "console traffic two"} {
		postWorkflow(t, key, goal)
	}
	base := startConsole(t)

	// The page is complete once Jaeger has every span; poll it over HTTP first.
	poll(t, 60*time.Second, "the request page shows the whole request", func() (bool, string) {
		resp, err := http.Get(base + "/requests/" + tid)
		if err != nil {
			return false, err.Error()
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`data-service="workflow-engine"`, `data-event="error_log"`, `data-table="workflow_runs"`, `INSERT workflow_runs`} {
			if !strings.Contains(string(body), want) {
				return false, fmt.Sprintf("%d, no %s yet", resp.StatusCode, want)
			}
		}
		return true, ""
	})

	b := newBrowser(t, 1280, 800)
	ctx := b.ctx
	browse(t, ctx, "open the console", chromedp.Navigate(base+"/"))
	waitVisible(t, ctx, `#requests tr[data-tracking-id="`+tid+`"]`)
	if row := pageText(t, ctx, `#requests tr[data-tracking-id="`+tid+`"]`); !strings.Contains(row, "POST") || !strings.Contains(row, "/api/v1/workflows") || !strings.Contains(row, "201") || !strings.Contains(row, "failed") {
		t.Errorf("the list's row for %s reads %q; want POST /api/v1/workflows 201 marked failed", tid, row)
	}
	noHorizontalOverflow(t, ctx)

	// Find by traceparent, as pasted from a bug report.
	browse(t, ctx, "find the request by its traceparent",
		chromedp.SendKeys(chromedp.CSS("#find-id"), "00-"+tid+"-00f067aa0ba902b7-01"),
		chromedp.Submit(chromedp.CSS("#find-id")))
	waitVisible(t, ctx, "#waterfall")
	if u := browseValue(t, ctx, "read the address", chromedp.Location()); u != base+"/requests/"+tid {
		t.Errorf("the find box led to %s, want %s/requests/%s", u, base, tid)
	}
	count := func(sel string) int {
		return browseValue(t, ctx, "count "+sel, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	}
	for _, svc := range []string{"api-gateway", "workflow-agent", "workflow-engine"} {
		if n := count(`svg.waterfall a[data-service="` + svc + `"]`); n == 0 {
			t.Errorf("the waterfall has no span of %s", svc)
		}
		if n := count(`ol.logs li[data-service="` + svc + `"]`); n == 0 {
			t.Errorf("no log line of %s on the page", svc)
		}
	}
	if ev := pageText(t, ctx, `#span .event[data-event="error_log"]`); !strings.Contains(ev, "log.message") {
		t.Errorf("the failed step's error_log event reads %q", ev)
	}
	if span := pageText(t, ctx, "#h-span"); !strings.Contains(span, "workflow-engine") {
		t.Errorf("the span shown first is %q, want the engine's failed step", span)
	}
	if row := pageText(t, ctx, `[data-table="workflow_runs"]`); !strings.Contains(row, tid) || !strings.Contains(row, "partial") {
		t.Errorf("the workflow_runs row reads %q; want the tracking id and status partial", row)
	}
	if curl := browseValue(t, ctx, "read the curl", chromedp.Evaluate[string](`document.querySelector("#copy-curl").value`)); !strings.Contains(curl, "/api/traces/"+tid) {
		t.Errorf("curl %q", curl)
	}
	noHorizontalOverflow(t, ctx)
	screenshot(t, ctx, filepath.Join(screenshotDir(t), "console-request.png"))

	// Choose the gateway's span in the waterfall.
	browse(t, ctx, "choose the gateway's first span", chromedp.Click(chromedp.CSS(`svg.waterfall a[data-service="api-gateway"]`)))
	poll(t, 30*time.Second, "the chosen span's details", func() (bool, string) {
		h := browseValue(t, ctx, "read the span heading", chromedp.Evaluate[string](`(document.querySelector("#h-span")||{}).textContent||""`))
		return strings.Contains(h, "api-gateway · POST /api/v1/workflows"), "heading " + h
	})
	if attrs := pageText(t, ctx, "#span-attributes"); !strings.Contains(attrs, "http.route") || !strings.Contains(attrs, "user.id") {
		t.Errorf("the gateway span's attributes read %q", attrs)
	}

	// A narrow window: the page reflows, nothing scrolls sideways.
	browse(t, ctx, "narrow the window", chromedp.EmulateViewport(420, 900))
	noHorizontalOverflow(t, ctx)

	// Bad input is a message on the page.
	browse(t, ctx, "open a malformed id", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/requests/not-a-tracking-id"))
	if msg := pageText(t, ctx, ".problem"); !strings.Contains(msg, "is not a tracking id") {
		t.Errorf("a malformed id shows %q", msg)
	}

	// Service health: the three services with traffic, exemplars linked to requests.
	// The requests above reach Prometheus within an export and a scrape.
	poll(t, 60*time.Second, "the three services' requests on the health page", func() (bool, string) {
		browse(t, ctx, "open service health", chromedp.Navigate(base+"/services"))
		for _, svc := range []string{"api-gateway", "workflow-agent", "workflow-engine"} {
			sel := `section.service[data-service="` + svc + `"]`
			waitVisible(t, ctx, sel)
			n := browseValue(t, ctx, "read "+svc+"'s requests", chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).dataset.requests`, sel)))
			if v, err := strconv.Atoi(n); err != nil || v <= 0 {
				return false, fmt.Sprintf("%s: %q requests in 15 minutes", svc, n)
			}
		}
		return true, ""
	})
	for _, svc := range []string{"api-gateway", "workflow-agent", "workflow-engine"} {
		sel := `section.service[data-service="` + svc + `"]`
		if c := count(sel + " svg.chart"); c != 3 {
			t.Errorf("%s: %d charts, want rate, errors and p95", svc, c)
		}
	}
	var exemplars []string
	poll(t, 60*time.Second, "an exemplar on the gateway's latency chart", func() (bool, string) {
		browse(t, ctx, "reload service health", chromedp.Navigate(base+"/services"))
		hrefs := browseValue(t, ctx, "read the exemplar links", chromedp.Evaluate[string](
			`Array.from(document.querySelectorAll('section.service[data-service="api-gateway"] a.exemplar')).map(a => a.getAttribute("href")).join(" ")`))
		exemplars = strings.Fields(hrefs)
		return len(exemplars) > 0, "none yet"
	})
	for _, e := range exemplars {
		if !regexp.MustCompile(`^/requests/[0-9a-f]{32}$`).MatchString(e) {
			t.Errorf("exemplar links to %q", e)
		}
	}
	noHorizontalOverflow(t, ctx)
	screenshot(t, ctx, filepath.Join(screenshotDir(t), "console-health.png"))

	// Exemplars come from every gateway that exported metrics to this stack
	// in the last 15 minutes, the suite's own short-lived ones included,
	// whose traces may have gone elsewhere or not be stored yet: follow one
	// whose trace Jaeger has.
	var exemplar string
	poll(t, 90*time.Second, "an exemplar whose trace is in Jaeger", func() (bool, string) {
		for _, e := range exemplars {
			var tr jaegerTrace
			if code, err := getJSON(jaegerURL+"/api/traces/"+strings.TrimPrefix(e, "/requests/"), &tr); err == nil && code == http.StatusOK && len(tr.Data) > 0 {
				exemplar = e
				return true, ""
			}
		}
		return false, fmt.Sprintf("none of %d exemplars yet", len(exemplars))
	})
	browse(t, ctx, "follow the exemplar", chromedp.Navigate(base+exemplar))
	waitVisible(t, ctx, "#waterfall")

	// The malformed id's page is a 400 on purpose; anything else is a fault.
	var errs []string
	for _, e := range b.errs() {
		if !strings.Contains(e, "status of 400 (Bad Request) ("+base+"/requests/not-a-tracking-id)") {
			errs = append(errs, e)
		}
	}
	if len(errs) != 0 {
		t.Errorf("the browser reported errors: %q", errs)
	}
}

// TestStackConsoleBackendDown: with Jaeger and Prometheus unreachable the
// console still answers, and says which part is down and what to run.
func TestStackConsoleBackendDown(t *testing.T) {
	requireStack(t)
	down := "http://" + refusingAddr(t)
	base := startConsole(t, "-jaeger", down, "-prometheus", down)
	for path, want := range map[string]string{"/": "Jaeger at " + down, "/services": "Prometheus at " + down, "/requests/" + strings.Repeat("ab", 16): "Jaeger at " + down} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), want) || !strings.Contains(string(body), "make demo") {
			t.Errorf("GET %s with the backend down: %d; want 502 naming %q and the command to run:\n%.2000s", path, resp.StatusCode, want, body)
		}
	}
}
