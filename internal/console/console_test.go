package console

import (
	"database/sql"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/starmates-ai/ai-teams/internal/lookup"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// The fixtures were recorded from make demo (internal/lookup/testdata): one
// "#partial" workflow whose engine step failed, the log lines of all three
// services for it, and a search of the gateway's recent traces.
const (
	fixtureID    = "3baabea8d60db8b7452a19e93a06543b"
	failedStepID = "5ab65ff8d6e58f77"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "lookup", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixtureTrace(t *testing.T) *lookup.Trace {
	t.Helper()
	tr, err := lookup.ParseJaegerTrace(fixture(t, "jaeger-trace.json"), fixtureID)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// fakeJaeger speaks Jaeger's HTTP API with the recorded answers.
func fakeJaeger(t *testing.T) string {
	trace, search := fixture(t, "jaeger-trace.json"), fixture(t, "jaeger-search.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/services":
			io.WriteString(w, `{"data":["api-gateway","workflow-agent","workflow-engine"],"total":3,"limit":0,"offset":0,"errors":null}`)
		case r.URL.Path == "/api/traces" && r.URL.Query().Get("service") != "":
			w.Write(search)
		case r.URL.Path == "/api/traces/"+fixtureID:
			w.Write(trace)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":404,"msg":"trace not found"}]}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// fakePrometheus answers the health page's queries for three services.
func fakePrometheus(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("query")
		switch r.URL.Path {
		case "/api/v1/query_range":
			var b strings.Builder
			for i, svc := range []string{"api-gateway", "workflow-agent", "workflow-engine"} {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(`{"metric":{"service":"` + svc + `"},"values":[[1795890000,"0.5"],[1795890015,"0.75"],[1795890030,"NaN"],[1795890045,"0.25"]]}`)
			}
			io.WriteString(w, `{"status":"success","data":{"resultType":"matrix","result":[`+b.String()+`]}}`)
		case "/api/v1/query":
			value := map[string]string{qRequests: "12", qTokens: "530", qCost: "0.0125"}[q]
			if q == qTokens || q == qCost {
				io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"service":"workflow-agent"},"value":[1795890045,"`+value+`"]}]}}`)
				return
			}
			io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"service":"api-gateway"},"value":[1795890045,"12"]},{"metric":{"service":"workflow-agent"},"value":[1795890045,"12"]},{"metric":{"service":"workflow-engine"},"value":[1795890045,"11"]}]}}`)
		case "/api/v1/query_exemplars":
			io.WriteString(w, `{"status":"success","data":[{"seriesLabels":{"service":"api-gateway","le":"0.025"},"exemplars":[{"labels":{"trace_id":"`+fixtureID+`","span_id":"7c671450e5ec7f6f"},"value":"0.0157","timestamp":1795890020.5}]}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// refusedURL is an address where nothing listens.
func refusedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// fixtureDB is a SQLite database like the gateway's, with the request's run.
func fixtureDB(t *testing.T) string {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "ai-teams.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE sessions (id TEXT, user_id TEXT, tracking_id TEXT)`,
		`CREATE TABLE workflow_runs (id TEXT, status TEXT, reason TEXT, tracking_id TEXT)`,
		`INSERT INTO workflow_runs VALUES ('run_8508446c762435b3', 'partial', 'step step-2 (call flaky tool) failed', '` + fixtureID + `')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type fixtureConfig struct {
	jaeger, prometheus, logs, dataDir string
}

func newTestServer(t *testing.T, fc fixtureConfig) *Server {
	t.Helper()
	if fc.jaeger == "" {
		fc.jaeger = fakeJaeger(t)
	}
	if fc.prometheus == "" {
		fc.prometheus = fakePrometheus(t)
	}
	if fc.logs == "" {
		fc.logs = filepath.Join("..", "lookup", "testdata", "logs.jsonl")
	}
	if fc.dataDir == "" {
		fc.dataDir = fixtureDB(t)
	}
	s, err := New(Config{
		Jaeger:      lookup.Jaeger{BaseURL: fc.jaeger},
		Prometheus:  lookup.Prometheus{BaseURL: fc.prometheus},
		LogPatterns: []string{fc.logs},
		DataDir:     fc.dataDir,
		Now:         func() time.Time { return time.Unix(1795890045, 0) },
		Logger:      nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// get serves one request and returns the status, the Location and the body.
func get(t *testing.T, s *Server, target string) (int, string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	body := rec.Body.String()
	if rec.Code < 300 || rec.Code >= 400 {
		// Every page, error pages included, is a whole page with the find box.
		if !strings.Contains(body, `<form class="find"`) || !strings.HasSuffix(strings.TrimSpace(body), "</html>") {
			t.Errorf("GET %s: %d is not a whole console page:\n%s", target, rec.Code, abbreviate(body))
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", target, ct)
		}
	}
	return rec.Code, rec.Header().Get("Location"), body
}

func abbreviate(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "…"
	}
	return s
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s: missing %q", what, w)
		}
	}
}

func TestWaterfallGolden(t *testing.T) {
	tr := fixtureTrace(t)
	got := string(waterfallSVG(tr, func(id string) string { return "/requests/" + fixtureID + "?span=" + id + "#span" }, failedStepID))
	golden := filepath.Join("testdata", "waterfall.golden.svg")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/console -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("waterfall differs from %s (rerun with -update if the change is intended):\n%s", golden, got)
	}
	// Well-formed SVG: one row link per span, in tree order.
	dec := xml.NewDecoder(strings.NewReader(got))
	var rows []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the waterfall is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "a" {
			for _, a := range se.Attr {
				if a.Name.Local == "data-span-id" {
					rows = append(rows, a.Value)
				}
			}
		}
	}
	if len(rows) != len(tr.Spans) {
		t.Errorf("%d span rows, want %d", len(rows), len(tr.Spans))
	}
	var walked []string
	for _, p := range tr.Tree().Walk() {
		walked = append(walked, p.SpanID)
	}
	if strings.Join(rows, " ") != strings.Join(walked, " ") {
		t.Errorf("rows in order %v, want the tree's %v", rows, walked)
	}
}

func TestWaterfallGeometry(t *testing.T) {
	t0 := time.Unix(1795890000, 0)
	tr := &lookup.Trace{ID: fixtureID, Spans: []lookup.Span{
		{SpanID: "root", Service: "api-gateway", Name: "POST /api/v1/workflows", Start: t0, Duration: 100 * time.Millisecond},
		{SpanID: "half", ParentID: "root", Service: "workflow-engine", Name: "step", Start: t0.Add(50 * time.Millisecond), Duration: 50 * time.Millisecond, Error: true},
		{SpanID: "tiny", ParentID: "half", Service: "workflow-engine", Name: "INSERT", Start: t0.Add(60 * time.Millisecond)},
	}}
	svg := string(waterfallSVG(tr, func(id string) string { return "#" + id }, ""))
	bars := regexp.MustCompile(`<rect x="([0-9.]+)" y="\d+" width="([0-9.]+)" height="14" rx="2" fill="([^"]+)"( stroke="#d62728")?`).FindAllStringSubmatch(svg, -1)
	if len(bars) != 3 {
		t.Fatalf("%d bars in\n%s", len(bars), svg)
	}
	want := [][2]string{{"390.0", "520.0"}, {"650.0", "260.0"}, {"702.0", "2.0"}}
	for i, b := range bars {
		if b[1] != want[i][0] || b[2] != want[i][1] {
			t.Errorf("bar %d at x=%s width %s, want x=%s width %s (shared axis: root fills it, the half starts mid-way, an instant span still shows)", i, b[1], b[2], want[i][0], want[i][1])
		}
	}
	if bars[1][4] != ` stroke="#d62728"` || bars[0][4] != "" || bars[2][4] != "" {
		t.Errorf("only the failed span has the red outline: %q %q %q", bars[0][4], bars[1][4], bars[2][4])
	}
	if bars[0][3] != serviceColor("api-gateway") || bars[1][3] != serviceColor("workflow-engine") {
		t.Errorf("bars coloured %s and %s, want each service's colour", bars[0][3], bars[1][3])
	}
	if serviceColor("api-gateway") == serviceColor("workflow-agent") || serviceColor("workflow-agent") == serviceColor("workflow-engine") || serviceColor("api-gateway") == serviceColor("workflow-engine") {
		t.Error("the three services must have three colours")
	}
}

func TestRequestPage(t *testing.T) {
	s := newTestServer(t, fixtureConfig{})
	code, _, body := get(t, s, "/requests/"+fixtureID)
	if code != http.StatusOK {
		t.Fatalf("status %d:\n%s", code, abbreviate(body))
	}
	mustContain(t, "request page", body,
		// the waterfall, with the spans of all three services
		`data-service="api-gateway"`, `data-service="workflow-agent"`, `data-service="workflow-engine"`,
		// the entry and the failure, with the failed step's span opened by default
		"POST /api/v1/workflows</strong> → <span class=\"\">201</span>", "user <code>user_fixture</code>",
		"What went wrong", `class="span failed selected"`, "Span: workflow-engine · step fail",
		`data-event="error_log"`, `data-event="exception"`, "exception.stacktrace",
		// log lines of every service, linked to their spans
		`<li class="WARN" data-service="api-gateway"`, `data-service="workflow-agent" data-level=`, `data-service="workflow-engine" data-level="ERROR"`,
		"?span=7c671450e5ec7f6f#span\" aria-label=\"span of this line\"",
		// the row, and the same request elsewhere
		`data-table="workflow_runs"`, "run_8508446c762435b3",
		"curl -s "+s.cfg.Jaeger.BaseURL+"/api/traces/"+fixtureID,
		`| filter tracking_id = &#34;`+fixtureID+`&#34;`, "aiteams trace "+fixtureID,
	)
	if strings.Contains(body, `role="alert"`) {
		t.Errorf("a complete request page shows a problem:\n%s", abbreviate(body))
	}
	if strings.Contains(body, "ZgotmplZ") {
		t.Error("html/template rejected a value (ZgotmplZ)")
	}
	// Log lines are interleaved in time across services.
	times := regexp.MustCompile(`<li class="\w+" data-service="[^"]+" data-level="\w+">\s*<span class="mono">([0-9:.]+)</span>`).FindAllStringSubmatch(body, -1)
	if len(times) < 3 {
		t.Fatalf("%d log lines", len(times))
	}
	for i := 1; i < len(times); i++ {
		if times[i][1] < times[i-1][1] {
			t.Errorf("log line %d at %s is before the one above it (%s)", i, times[i][1], times[i-1][1])
		}
	}

	// Choosing a span shows its details.
	_, _, body = get(t, s, "/requests/"+fixtureID+"?span=7c671450e5ec7f6f")
	mustContain(t, "chosen span", body, "Span: api-gateway · POST /api/v1/workflows", "api_key.client_name", `class="span selected"`)
}

func TestFind(t *testing.T) {
	s := newTestServer(t, fixtureConfig{})
	for _, in := range []string{fixtureID, "00-" + fixtureID + "-7c671450e5ec7f6f-01", "http://127.0.0.1:16686/api/traces/" + fixtureID, strings.ToUpper(fixtureID)} {
		code, loc, _ := get(t, s, "/find?id="+urlQuery(in))
		if code != http.StatusSeeOther || loc != "/requests/"+fixtureID {
			t.Errorf("find %q: %d → %q, want 303 → the request page", in, code, loc)
		}
	}
	code, loc, _ := get(t, s, "/requests/"+strings.ToUpper(fixtureID))
	if code != http.StatusMovedPermanently || loc != "/requests/"+fixtureID {
		t.Errorf("upper-case id: %d → %q, want one address per request", code, loc)
	}
}

func urlQuery(s string) string { return strings.NewReplacer(":", "%3A", "/", "%2F").Replace(s) }

func TestErrorStates(t *testing.T) {
	down := refusedURL(t)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "storage unavailable", http.StatusInternalServerError)
	}))
	defer broken.Close()
	unknown := strings.Repeat("ab", 16)
	for _, tc := range []struct {
		name   string
		fc     fixtureConfig
		target string
		status int
		wants  []string
	}{
		{"malformed id", fixtureConfig{}, "/requests/not-an-id", http.StatusBadRequest, []string{"is not a tracking id", "X-Tracking-ID header"}},
		{"malformed id in the find box", fixtureConfig{}, "/find?id=hello", http.StatusBadRequest, []string{"is not a tracking id", `value="hello"`}},
		{"all-zero id", fixtureConfig{}, "/requests/" + strings.Repeat("0", 32), http.StatusBadRequest, []string{"all-zero"}},
		{"empty find box", fixtureConfig{}, "/find?id=", http.StatusBadRequest, []string{"no tracking id given"}},
		{"unknown id", fixtureConfig{}, "/requests/" + unknown, http.StatusNotFound, []string{"Nothing carries tracking id " + unknown, "reload in a moment"}},
		{"Jaeger down, nothing else", fixtureConfig{jaeger: down}, "/requests/" + unknown, http.StatusBadGateway, []string{"Jaeger: Jaeger at " + down, "connection refused", "make demo", "scripts/stack.sh status"}},
		{"Jaeger down, logs and rows still shown", fixtureConfig{jaeger: down}, "/requests/" + fixtureID, http.StatusOK, []string{"Jaeger at " + down, "make demo", `data-table="workflow_runs"`, "workflow planned"}},
		{"Jaeger failing", fixtureConfig{jaeger: broken.URL}, "/requests/" + fixtureID, http.StatusOK, []string{"HTTP 500: storage unavailable"}},
		{"Jaeger down, list", fixtureConfig{jaeger: down}, "/", http.StatusBadGateway, []string{"Jaeger at " + down, "make demo"}},
		{"Prometheus down", fixtureConfig{prometheus: down}, "/services", http.StatusBadGateway, []string{"Prometheus: ", "Prometheus at " + down, "make demo"}},
		{"Prometheus failing", fixtureConfig{prometheus: broken.URL}, "/services", http.StatusBadGateway, []string{"Prometheus at " + broken.URL + ": HTTP 500: not JSON"}},
		{"no database", fixtureConfig{dataDir: t.TempDir()}, "/requests/" + fixtureID, http.StatusOK, []string{"database: no database at", "No row in the database carries this tracking id"}},
		{"no log files", fixtureConfig{logs: filepath.Join(t.TempDir(), "*.log")}, "/requests/" + fixtureID, http.StatusOK, []string{"no log file matches", "No log line carries this tracking id"}},
		{"span not in the trace", fixtureConfig{}, "/requests/" + fixtureID + "?span=ffffffffffffffff", http.StatusOK, []string{`span &#34;ffffffffffffffff&#34; is not in this trace`, "Span: workflow-engine · step fail"}},
		{"bad minimum duration", fixtureConfig{}, "/?min=soon", http.StatusBadRequest, []string{`minimum duration &#34;soon&#34; is not a duration`, "Showing every duration", `data-tracking-id="`}},
		{"bad status class", fixtureConfig{}, "/?status=9xx", http.StatusBadRequest, []string{`status &#34;9xx&#34; is not one of`, `data-tracking-id="`}},
		{"no such page", fixtureConfig{}, "/jaeger/ui", http.StatusNotFound, []string{"There is no page at /jaeger/ui"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, tc.fc)
			code, _, body := get(t, s, tc.target)
			if code != tc.status {
				t.Errorf("GET %s: %d, want %d", tc.target, code, tc.status)
			}
			if !strings.Contains(body, `role="alert"`) {
				t.Errorf("GET %s: no problem shown", tc.target)
			}
			mustContain(t, tc.target, body, tc.wants...)
			if strings.Contains(body, "could not draw this page") {
				t.Errorf("GET %s: the page failed to render", tc.target)
			}
		})
	}
}

func TestRequestsList(t *testing.T) {
	s := newTestServer(t, fixtureConfig{})
	rowRe := regexp.MustCompile(`<tr class="(bad)?" data-tracking-id="([0-9a-f]{32})">\s*<td class="mono">([0-9:.]+)</td><td>(\w*)</td><td><a [^>]+>([^<]*)</a></td>\s*<td class="num[^"]*">([0-9–]+)</td>`)
	list := func(query string) [][]string {
		t.Helper()
		code, _, body := get(t, s, "/"+query)
		if code != http.StatusOK {
			t.Fatalf("GET /%s: %d", query, code)
		}
		return rowRe.FindAllStringSubmatch(body, -1)
	}
	all := list("")
	if len(all) != 8 {
		t.Fatalf("%d rows, want the fixture's 8 gateway requests", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i][3] > all[i-1][3] {
			t.Errorf("row %d (%s) is newer than the row above: want newest first", i, all[i][3])
		}
	}
	if all[0][2] != "c1da36eb013f2aca6908a27702f0255a" || all[0][4] != "GET" || all[0][5] != "/no/such" || all[0][6] != "404" {
		t.Errorf("newest row %v, want the GET /no/such that got 404", all[0][1:])
	}
	bad := 0
	for _, r := range all {
		if r[1] == "bad" {
			bad++
		}
	}
	if bad != 2 {
		t.Errorf("%d rows marked failed, want 2 (the #partial and #fail workflows)", bad)
	}
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"?status=4xx", 3}, {"?status=2xx", 5}, {"?status=5xx", 0}, {"?status=failed", 2},
		{"?min=5ms", 5}, {"?min=5", 5}, {"?min=1s", 0}, {"?status=failed&min=8ms", 1},
		{"?service=workflow-engine", 5},
	} {
		got := list(tc.query)
		if len(got) != tc.want {
			t.Errorf("GET /%s: %d rows, want %d", tc.query, len(got), tc.want)
		}
		for _, r := range got {
			if strings.Contains(tc.query, "4xx") && !strings.HasPrefix(r[6], "4") {
				t.Errorf("GET /%s shows status %s", tc.query, r[6])
			}
			if strings.Contains(tc.query, "workflow-engine") && r[5] != "/execute" {
				t.Errorf("engine's requests are its POST /execute, got %s", r[5])
			}
		}
	}
}

func TestServicesPage(t *testing.T) {
	s := newTestServer(t, fixtureConfig{})
	code, _, body := get(t, s, "/services")
	if code != http.StatusOK {
		t.Fatalf("status %d:\n%s", code, abbreviate(body))
	}
	mustContain(t, "services page", body,
		`data-service="api-gateway" data-requests="12"`, `data-service="workflow-agent" data-requests="12"`, `data-service="workflow-engine" data-requests="11"`,
		"AI tokens <strong>530</strong> · cost <strong>$0.0125</strong>",
		`<a href="/requests/`+fixtureID+`" class="exemplar">`, "15.7ms", "1 exemplars",
		"api-gateway requests per second over the last 15 minutes: now 0.25/s, highest 0.75/s",
		"workflow-engine share of 5xx responses", "<span>now 0.25/s</span>",
	)
	if n := strings.Count(body, `<svg xmlns="http://www.w3.org/2000/svg" class="chart"`); n != 9 {
		t.Errorf("%d charts, want 3 per service", n)
	}
}

func TestSparklineGaps(t *testing.T) {
	t0 := time.Unix(1795890000, 0)
	pt := func(s int, v float64) lookup.Point {
		return lookup.Point{Time: t0.Add(time.Duration(s) * time.Second), Value: v}
	}
	svg := string(sparkline("x", []lookup.Point{pt(0, 1), pt(15, 2), pt(30, 2), pt(90, 1), pt(105, 1)}, t0, t0.Add(120*time.Second), 15*time.Second, perSecond, nil))
	if n := strings.Count(svg, `class="line"`); n != 2 {
		t.Errorf("%d lines, want 2: Prometheus leaves out steps without a sample, and the chart must not join across them\n%s", n, svg)
	}
	empty := string(sparkline("x", nil, t0, t0.Add(time.Minute), 15*time.Second, perSecond, nil))
	mustContain(t, "empty chart", empty, "now no data")
	for in, want := range map[float64]string{0: "0/s", 0.07266: "0.0727/s", 12.345: "12.3/s", 1234: "1234/s"} {
		if got := perSecond(in); got != want {
			t.Errorf("perSecond(%v) = %q, want %q", in, got, want)
		}
	}
}
