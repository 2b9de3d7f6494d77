package lookup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The fixtures were recorded from make demo: one "#partial" workflow's
// trace from Jaeger's /api/traces and the log lines of all three services.
const fixtureID = "3baabea8d60db8b7452a19e93a06543b"

func TestParseTrackingID(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: fixtureID, want: fixtureID},
		{in: "  3BAABEA8D60DB8B7452A19E93A06543B\n", want: fixtureID},
		{in: "00-" + fixtureID + "-7c671450e5ec7f6f-01", want: fixtureID},
		{in: "http://127.0.0.1:16686/api/traces/" + fixtureID, want: fixtureID},
		{in: `{"tracking_id":"` + fixtureID + `","tracing":{"trace_id":"` + fixtureID + `"}}`, want: fixtureID},
		{in: "", err: "no tracking id"},
		{in: "3baabea8", err: "not a tracking id"},
		{in: fixtureID + "0", err: "not a tracking id"},
		{in: strings.Repeat("0", 32), err: "all-zero"},
		{in: fixtureID + " " + strings.Repeat("a", 32), err: "not a tracking id"},
		{in: strings.Repeat("g", 32), err: "not a tracking id"},
	} {
		got, err := ParseTrackingID(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseTrackingID(%q) = %q, %v; want error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseTrackingID(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestJaegerTrace(t *testing.T) {
	body, err := os.ReadFile("testdata/jaeger-trace.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/traces/"+fixtureID {
			http.Error(w, `{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}`, http.StatusNotFound)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	j := Jaeger{BaseURL: srv.URL}

	tr, err := j.Trace(context.Background(), fixtureID)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Spans) != 9 {
		t.Fatalf("%d spans", len(tr.Spans))
	}
	if got := strings.Join(tr.Services(), ","); got != "api-gateway,workflow-agent,workflow-engine" {
		t.Errorf("services %s", got)
	}
	root := tr.Spans[0]
	if root.Name != "POST /api/v1/workflows" || root.ParentID != "" || root.Kind != "server" || root.Duration.Microseconds() != 15942 {
		t.Errorf("root %+v", root)
	}
	var failed *Span
	for i := range tr.Spans {
		if tr.Spans[i].Error {
			if failed != nil {
				t.Errorf("second failed span %s", tr.Spans[i].Name)
			}
			failed = &tr.Spans[i]
		}
		if i > 0 && tr.Spans[i].Start.Before(tr.Spans[i-1].Start) {
			t.Errorf("spans not in start order at %d", i)
		}
	}
	if failed == nil || failed.Name != "step fail" || failed.Status != "workflow step failed" || failed.ParentID != "6c08177bcca5d8f2" {
		t.Fatalf("failed span %+v", failed)
	}
	if len(failed.Events) != 2 || failed.Events[0].Name != "error_log" || failed.Events[1].Name != "exception" ||
		failed.Events[1].Attributes["exception.message"] != "step failed: tool unavailable" {
		t.Errorf("events %+v", failed.Events)
	}

	if _, err := j.Trace(context.Background(), strings.Repeat("1", 32)); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing trace: %v, want ErrNotFound", err)
	}
	srv.Close()
	if _, err := j.Trace(context.Background(), fixtureID); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Jaeger down: %v, want a connection error", err)
	}
}

func TestSearchLogs(t *testing.T) {
	dir := t.TempDir()
	fixture, err := os.ReadFile("testdata/logs.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	// Split across two files, with noise: another request's line, a line that
	// mentions the id without carrying it, a line that is not JSON, a long line.
	lines := strings.SplitAfter(strings.TrimSpace(string(fixture)), "\n")
	other := `{"@timestamp":"2026-11-28T17:11:09.000Z","@level":"INFO","@message":"x","service":"api-gateway","tracking_id":"` + strings.Repeat("a", 32) + `"}` + "\n"
	mention := `{"@timestamp":"2026-11-28T17:11:09.000Z","@level":"INFO","@message":"see ` + fixtureID + `","service":"api-gateway"}` + "\n"
	long := `{"@message":"` + strings.Repeat("x", 200000) + `"}` + "\n"
	write := func(name string, parts ...string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(parts, "")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.log", append([]string{other, "not json " + fixtureID + "\n", long}, lines[:3]...)...)
	write("b.log", append([]string{mention}, lines[3:]...)...)

	got, files, err := SearchLogs([]string{filepath.Join(dir, "*.log")}, fixtureID)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || len(got) != len(lines) {
		t.Fatalf("%d files, %d lines; want 2 files, %d lines", len(files), len(got), len(lines))
	}
	services := map[string]bool{}
	for i, l := range got {
		services[l.Service] = true
		if l.SpanID == "" || l.Message == "" || l.Level == "" || l.Time.IsZero() {
			t.Errorf("line %d not read whole: %+v", i, l)
		}
		if i > 0 && l.Time.Before(got[i-1].Time) {
			t.Errorf("lines not in time order at %d", i)
		}
	}
	if len(services) != 3 {
		t.Errorf("services %v", services)
	}
}

func TestRows(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "ai-teams.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE sessions (id TEXT, user_id TEXT, tracking_id TEXT)`,
		`CREATE TABLE workflow_runs (id TEXT, session_id TEXT, status TEXT, tracking_id TEXT)`,
		`INSERT INTO sessions VALUES ('sess_1', 'u1', '` + strings.Repeat("b", 32) + `')`,
		`INSERT INTO workflow_runs VALUES ('run_1', NULL, 'partial', '` + fixtureID + `')`,
		`INSERT INTO workflow_runs VALUES ('run_2', 'sess_1', 'completed', '` + strings.Repeat("b", 32) + `')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	d, err := OpenDB(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.Rows(context.Background(), fixtureID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Table != "workflow_runs" || rows[0].Values["id"] != "run_1" || rows[0].Values["session_id"] != nil {
		t.Fatalf("rows %+v", rows)
	}
	if _, err := OpenDB(context.Background(), t.TempDir(), ""); err == nil || !strings.Contains(err.Error(), "no database at") {
		t.Errorf("missing database: %v", err)
	}
	if got := redactURL("postgres://app:s3cret@db:5432/x"); strings.Contains(got, "s3cret") {
		t.Errorf("password printed: %s", got)
	}
}

func TestPrometheusQuery(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("query") {
		case "up":
			w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"otel-collector"},"value":[1795885869.1,"1"]},{"metric":{"job":"api-gateway"},"value":[1795885869.1,"0"]}]}}`))
		case "scalar(1)":
			w.Write([]byte(`{"status":"success","data":{"resultType":"scalar","result":[1795885869.1,"1"]}}`))
		default:
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"parse error"}`))
		}
	}))
	defer srv.Close()
	p := Prometheus{BaseURL: srv.URL}
	got, err := p.Query(context.Background(), "up")
	if err != nil || len(got) != 2 || got[0].Labels["job"] != "otel-collector" || got[0].Value != 1 || got[1].Value != 0 {
		t.Errorf("up: %+v %v", got, err)
	}
	if got, err := p.Query(context.Background(), "scalar(1)"); err != nil || len(got) != 1 || got[0].Value != 1 {
		t.Errorf("scalar: %+v %v", got, err)
	}
	_, err = p.Query(context.Background(), "up{")
	var refused *RefusedError
	if !errors.As(err, &refused) || refused.Type != "bad_data" || refused.HTTPStatus != http.StatusBadRequest || !strings.Contains(err.Error(), "parse error") {
		t.Errorf("bad query: %v", err)
	}
}

func TestJaegerSearch(t *testing.T) {
	body, err := os.ReadFile("testdata/jaeger-search.json")
	if err != nil {
		t.Fatal(err)
	}
	var asked url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/traces":
			asked = r.URL.Query()
			w.Write(body)
		case "/api/services":
			w.Write([]byte(`{"data":["workflow-engine","api-gateway","workflow-agent"],"total":3,"limit":0,"offset":0,"errors":null}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	j := Jaeger{BaseURL: srv.URL}
	traces, err := j.Search(context.Background(), TraceQuery{Service: "api-gateway", Lookback: 15 * time.Minute, Limit: 8})
	if err != nil {
		t.Fatal(err)
	}
	if asked.Get("service") != "api-gateway" || asked.Get("lookback") != "15m0s" || asked.Get("limit") != "8" {
		t.Errorf("asked Jaeger for %v", asked)
	}
	if len(traces) != 8 {
		t.Fatalf("%d traces, want the fixture's 8", len(traces))
	}
	for i, tr := range traces {
		if i > 0 && tr.Spans[0].Start.After(traces[i-1].Spans[0].Start) {
			t.Errorf("trace %d (%s) is newer than the one before it: want newest first", i, tr.ID)
		}
	}
	if traces[0].ID != "c1da36eb013f2aca6908a27702f0255a" || len(traces[0].Spans) != 1 {
		t.Errorf("newest trace %s with %d spans, want the 404 with 1", traces[0].ID, len(traces[0].Spans))
	}
	failed := 0
	for _, tr := range traces {
		if tr.Errors() > 0 {
			failed++
		}
	}
	if failed != 2 {
		t.Errorf("%d traces with a failed span, want 2 (the #partial and #fail workflows)", failed)
	}
	services, err := j.Services(context.Background())
	if err != nil || strings.Join(services, ",") != "api-gateway,workflow-agent,workflow-engine" {
		t.Errorf("Services() = %v, %v", services, err)
	}
}

func TestSpanTree(t *testing.T) {
	tr := &Trace{ID: fixtureID, Spans: []Span{
		{SpanID: "a", Start: time.Unix(0, 0), Duration: 10 * time.Millisecond},
		{SpanID: "b", ParentID: "a", Start: time.Unix(0, 2e6), Duration: 3 * time.Millisecond},
		{SpanID: "c", ParentID: "a", Start: time.Unix(0, 1e6), Duration: 12 * time.Millisecond, Error: true},
		{SpanID: "d", ParentID: "c", Start: time.Unix(0, 4e6)},
		{SpanID: "orphan", ParentID: "gone", Start: time.Unix(0, 5e6)},
		{SpanID: "x", ParentID: "y", Start: time.Unix(0, 6e6)},
		{SpanID: "y", ParentID: "x", Start: time.Unix(0, 7e6)},
	}}
	var got []string
	for _, p := range tr.Tree().Walk() {
		got = append(got, fmt.Sprintf("%s%d", p.SpanID, p.Depth))
	}
	if want := "a0 c1 d2 b1 orphan0 x0 y1"; strings.Join(got, " ") != want {
		t.Errorf("walk %q, want %q: children by start, orphans as roots, a cycle listed once", strings.Join(got, " "), want)
	}
	first, total := tr.Bounds()
	if !first.Equal(time.Unix(0, 0)) || total != 13*time.Millisecond {
		t.Errorf("Bounds() = %v, %v; want the epoch and 13ms (span c ends last)", first, total)
	}
	if tr.Errors() != 1 {
		t.Errorf("Errors() = %d", tr.Errors())
	}
}

func TestPrometheusRangeAndExemplars(t *testing.T) {
	var asked []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Query())
		switch r.URL.Path {
		case "/api/v1/query_range":
			w.Write([]byte(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"service":"api-gateway"},"values":[[1795890600,"0.5"],[1795890615,"NaN"],[1795890630,"1.25"]]}]}}`))
		case "/api/v1/query_exemplars":
			w.Write([]byte(`{"status":"success","data":[{"seriesLabels":{"service":"api-gateway","le":"0.05"},"exemplars":[{"labels":{"span_id":"9f777be0dd12fabd","trace_id":"017c8a07b92105f2ad8160c1b96a73e8"},"value":"0.031","timestamp":1795890700.5},{"labels":{"trace_id":"3baabea8d60db8b7452a19e93a06543b"},"value":"0.002","timestamp":1795890650.25}]}]}`))
		}
	}))
	defer srv.Close()
	p := Prometheus{BaseURL: srv.URL}
	end := time.Unix(1795890630, 0)
	series, err := p.QueryRange(context.Background(), "sum(rate(request_count[1m]))", end.Add(-30*time.Second), end, 15*time.Second)
	if err != nil || len(series) != 1 || len(series[0].Points) != 3 {
		t.Fatalf("QueryRange: %+v %v", series, err)
	}
	if q := asked[0]; q.Get("start") != "1795890600.000" || q.Get("end") != "1795890630.000" || q.Get("step") != "15" {
		t.Errorf("asked %v", q)
	}
	pts := series[0].Points
	if pts[0].Value != 0.5 || !math.IsNaN(pts[1].Value) || pts[2].Value != 1.25 || !pts[2].Time.Equal(end) {
		t.Errorf("points %+v", pts)
	}
	ex, err := p.Exemplars(context.Background(), "request_duration_seconds_bucket", end.Add(-time.Minute), end)
	if err != nil || len(ex) != 2 {
		t.Fatalf("Exemplars: %+v %v", ex, err)
	}
	if ex[0].TraceID != fixtureID || ex[1].TraceID != "017c8a07b92105f2ad8160c1b96a73e8" || ex[1].Value != 0.031 || ex[1].Series["le"] != "0.05" ||
		!ex[1].Time.Equal(time.UnixMilli(1795890700500)) {
		t.Errorf("exemplars, want oldest first: %+v", ex)
	}
}

func TestSearchLogsReadsBothFieldStyles(t *testing.T) {
	dir := t.TempDir()
	lines := `{"timestamp":"2026-11-28T17:11:09.002Z","level":"WARN","message":"plain","service":"api-gateway","tracking_id":"` + fixtureID + `"}` + "\n" +
		`{"@timestamp":"2026-11-28T17:11:09.001Z","@level":"ERROR","@message":"at","service":"workflow-engine","tracking_id":"` + fixtureID + `"}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "x.log"), []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _, err := SearchLogs([]string{filepath.Join(dir, "*.log")}, fixtureID)
	if err != nil || len(got) != 2 {
		t.Fatalf("%d lines, %v", len(got), err)
	}
	if got[0].Message != "at" || got[0].Level != "ERROR" || got[1].Message != "plain" || got[1].Level != "WARN" || got[1].Time.IsZero() {
		t.Errorf("both styles, ordered by time: %+v", got)
	}
}
