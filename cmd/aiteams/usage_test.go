package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakePrometheus answers the queries aiteams usage sends, in Prometheus' wire format.
func fakePrometheus(t *testing.T, headSeries int, spansPerSecond float64) *httptest.Server {
	t.Helper()
	vector := func(w http.ResponseWriter, samples ...string) {
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[%s]}}`, strings.Join(samples, ","))
	}
	sample := func(labels string, v float64) string {
		return fmt.Sprintf(`{"metric":{%s},"value":[1795885869.1,"%g"]}`, labels, v)
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("query")
		switch {
		case r.URL.Path == "/api/traces": // Jaeger at the same address: no traces
			http.NotFound(w, r)
		case r.URL.Path == "/api/v1/status/tsdb":
			fmt.Fprintf(w, `{"status":"success","data":{"headStats":{"numSeries":%d},"seriesCountByMetricName":[
			  {"name":"request_duration_seconds_bucket","value":600},{"name":"request_count","value":90},
			  {"name":"ai_tokens_total","value":12},{"name":"up","value":5}],"labelValueCountByLabelName":[]}}`, headSeries)
		case r.URL.Path == "/api/v1/labels":
			switch r.URL.Query().Get("match[]") {
			case "request_duration_seconds_bucket":
				fmt.Fprint(w, `{"status":"success","data":["__name__","endpoint","environment","le","service"]}`)
			case "request_count":
				fmt.Fprint(w, `{"status":"success","data":["__name__","endpoint","status_code","service","job"]}`)
			default:
				fmt.Fprint(w, `{"status":"success","data":["__name__","environment","project","service"]}`)
			}
		case q == `count by (service) ({service!=""})`:
			vector(w, sample(`"service":"api-gateway"`, 300), sample(`"service":"workflow-agent"`, 200))
		case strings.Contains(q, "prometheus_tsdb_head_samples_appended_total"):
			vector(w, sample("", 120))
		case strings.Contains(q, "otelcol_receiver_accepted_spans"):
			vector(w, sample("", spansPerSecond))
		case q == "count(count by (le) (request_duration_seconds_bucket))":
			vector(w, sample("", 12))
		case q == "count(count by (endpoint) (request_duration_seconds_bucket))", q == "count(count by (endpoint) (request_count))":
			vector(w, sample("", 5))
		case q == "count(count by (status_code) (request_count))":
			vector(w, sample("", 7))
		default:
			t.Errorf("unexpected query %s %q", r.URL.Path, q)
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"status":"error","error":"unexpected"}`)
		}
	}))
}

func TestUsageReport(t *testing.T) {
	logDir := t.TempDir()
	// 100 s of logs: two lines 100 s apart, padded to 10 000 bytes: 100 B/s.
	first := `{"@timestamp":"2026-11-28T10:00:00.000Z","@message":"first"}` + "\n"
	last := `{"@timestamp":"2026-11-28T10:01:40.000Z","@message":"last"}` + "\n"
	pad := `{"@message":"` + strings.Repeat("x", 10000-len(first)-len(last)-16) + `"}` + "\n"
	if err := os.WriteFile(filepath.Join(logDir, "api-gateway.log"), []byte(first+pad+last), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := fakePrometheus(t, 2930, 0.5)
	defer prom.Close()
	noJaeger := httptest.NewServer(http.NotFoundHandler())
	noJaeger.Close()

	var stdout, stderr bytes.Buffer
	code := run([]string{"usage", "--json", "--prometheus", prom.URL, "--jaeger", noJaeger.URL, "--log-dir", logDir}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var rep usageReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Series.Active != 2930 || rep.Series.Share != 0.293 || rep.Series.ByService["api-gateway"] != 300 || rep.Samples != 120 {
		t.Errorf("series %+v, samples %v", rep.Series, rep.Samples)
	}
	if rep.Logs.PerSecond != 100 || fmt.Sprintf("%.3f", rep.Logs.MonthGB) != "0.259" {
		t.Errorf("logs %+v: want 100 B/s, 0.259 GB a month", rep.Logs)
	}
	if rep.Traces.PerSecond != 512 { // 0.5 spans/s × the 1 KB fallback without Jaeger
		t.Errorf("traces %+v", rep.Traces)
	}
	want := []string{
		"request_duration_seconds_bucket thin the histogram: 12 bucket bounds (le)",
		"request_count drop or aggregate the label status_code (7 values)",
		"ai_tokens_total only kept labels",
	}
	if len(rep.Costliest) != 3 {
		t.Fatalf("costliest %+v", rep.Costliest)
	}
	for i, m := range rep.Costliest {
		if got := m.Metric + " " + m.Cut; !strings.HasPrefix(got, want[i]) {
			t.Errorf("costliest %d: %q, want %q…", i, got, want[i])
		}
	}
}

func TestUsageOverTheFreeTier(t *testing.T) {
	prom := fakePrometheus(t, 12000, 0)
	defer prom.Close()
	var stdout, stderr bytes.Buffer
	code := run([]string{"usage", "--prometheus", prom.URL, "--jaeger", prom.URL, "--log-dir", t.TempDir()}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "active series at 120% of the free tier") || !strings.Contains(stdout.String(), "OVER") ||
		!strings.Contains(stdout.String(), "Grafana Pro: $29/month") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"usage", "--prometheus", down.URL}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "Prometheus at") {
		t.Errorf("Prometheus down: exit %d, %s", code, stderr.String())
	}
}
