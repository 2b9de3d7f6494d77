package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starmates-ai/ai-teams/internal/lookup"
	"github.com/starmates-ai/ai-teams/services/apigateway"
)

// fakeStack is a gateway, a Jaeger and a Prometheus in process, speaking
// their real wire formats. The gateway remembers when it answered each
// tracking id; Jaeger shows a trace and Prometheus counts an answer only a
// set delay after that, as the real pipeline does after its batches.
type fakeStack struct {
	gateway, jaeger, prometheus *httptest.Server

	failEvery   int           // every n-th request answers 500 (0: none)
	latency     time.Duration // the gateway's time to answer
	incomplete  string        // this id's trace lacks the workflow-engine spans
	jaegerDelay time.Duration
	promDelay   time.Duration
	baseline    float64 // request_count before the run
	// restarted: the baseline is an earlier gateway's series, which
	// vanishes at the first answer (as at a collector restart), and the
	// answers are counted on a new instance's series.
	restarted bool

	mu                sync.Mutex
	availabilityQuery string // the last one asked
	answeredAt        map[string]time.Time
	goals             []string
	firstLookup       map[string]time.Time // Jaeger: when each id was first asked for
	authOK            int
	dropReads         int
}

func newFakeStack(t *testing.T, configure func(*fakeStack)) *fakeStack {
	t.Helper()
	trace, err := os.ReadFile(fixtureTrace)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeStack{answeredAt: map[string]time.Time{}, firstLookup: map[string]time.Time{}, baseline: 7}
	if configure != nil {
		configure(f)
	}
	f.gateway = httptest.NewServer(http.HandlerFunc(f.serveGateway))
	f.jaeger = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f.serveJaeger(t, w, r, trace) }))
	f.prometheus = httptest.NewServer(http.HandlerFunc(f.servePrometheus))
	t.Cleanup(func() { f.gateway.Close(); f.jaeger.Close(); f.prometheus.Close() })
	return f
}

func (f *fakeStack) serveGateway(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == apigateway.HealthPath {
		w.Write([]byte(`{"status":"ok","database":"sqlite"}`))
		return
	}
	var req apigateway.CreateWorkflowRequest
	if r.Method != http.MethodPost || r.URL.Path != apigateway.WorkflowsPath || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "unexpected request", http.StatusBadRequest)
		return
	}
	// The gateway's own latency: what a slow service looks like to the client.
	select {
	case <-time.After(f.latency):
	case <-r.Context().Done():
		return
	}
	f.mu.Lock()
	f.goals = append(f.goals, req.Goal)
	n := len(f.goals)
	id := fmt.Sprintf("%032x", n)
	if r.Header.Get("Authorization") == "Bearer test-key" {
		f.authOK++
	}
	f.answeredAt[id] = time.Now()
	f.mu.Unlock()
	w.Header().Set("X-Tracking-ID", id)
	w.Header().Set("Content-Type", "application/json")
	if f.failEvery > 0 && n%f.failEvery == 0 {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"error":{"code":"internal","message":"internal error","tracking_id":%q}}`, id)
		return
	}
	status := "completed"
	switch {
	case strings.Contains(req.Goal, "#fail"):
		status = "failed"
	case strings.Contains(req.Goal, "#partial"):
		status = "partial"
	}
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(apigateway.WorkflowRun{ID: "run_" + id[24:], Goal: req.Goal, Status: status, TrackingID: id})
}

// serveJaeger answers /api/traces/<id> with the recorded "#partial" trace
// under the asked id, once jaegerDelay has passed since the gateway answered.
func (f *fakeStack) serveJaeger(t *testing.T, w http.ResponseWriter, r *http.Request, fixture []byte) {
	if r.URL.Path == "/api/services" {
		w.Write([]byte(`{"data":["api-gateway","workflow-agent","workflow-engine"],"total":3}`))
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/api/traces/")
	f.mu.Lock()
	at, ok := f.answeredAt[id]
	if _, asked := f.firstLookup[id]; !asked {
		f.firstLookup[id] = time.Now()
	}
	f.mu.Unlock()
	if !ok || time.Since(at) < f.jaegerDelay {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":404,"msg":"trace not found"}]}`))
		return
	}
	body := bytes.ReplaceAll(fixture, []byte(fixtureID), []byte(id))
	if id == f.incomplete {
		body = withoutService(t, body, "workflow-engine")
	}
	w.Write(body)
}

// withoutService drops one service's spans from a Jaeger answer, as if its
// export had been lost.
func withoutService(t *testing.T, body []byte, service string) []byte {
	var doc struct {
		Data []struct {
			TraceID   string                     `json:"traceID"`
			Spans     []map[string]any           `json:"spans"`
			Processes map[string]json.RawMessage `json:"processes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Error(err)
		return body
	}
	for i := range doc.Data {
		var kept []map[string]any
		for _, s := range doc.Data[i].Spans {
			if !strings.Contains(string(doc.Data[i].Processes[s["processID"].(string)]), `"`+service+`"`) {
				kept = append(kept, s)
			}
		}
		doc.Data[i].Spans = kept
	}
	out, _ := json.Marshal(doc)
	return out
}

// servePrometheus answers instant queries: the gateway's workflow request
// counter, one collector drop counter that grows by 3 between its first and
// later reads, and no series for anything else.
func (f *fakeStack) servePrometheus(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("query")
	var result string
	switch {
	case strings.Contains(q, "request_count{") && strings.Contains(q, `service="api-gateway"`) && strings.Contains(q, `endpoint="/api/v1/workflows"`):
		f.mu.Lock()
		var n float64
		for _, at := range f.answeredAt {
			if time.Since(at) >= f.promDelay {
				n++
			}
		}
		answered := len(f.answeredAt)
		f.mu.Unlock()
		now := float64(time.Now().UnixMilli()) / 1000
		switch {
		case !f.restarted:
			result = fmt.Sprintf(`[{"metric":{"instance":"gw"},"value":[%.3f,"%g"]}]`, now, f.baseline+n)
		case answered == 0:
			result = fmt.Sprintf(`[{"metric":{"instance":"earlier"},"value":[%.3f,"%g"]}]`, now, f.baseline)
		case n == 0:
			result = `[]`
		default:
			result = fmt.Sprintf(`[{"metric":{"instance":"gw"},"value":[%.3f,"%g"]}]`, now, n)
		}
	case strings.HasPrefix(q, "1 - ((sum(increase(request_count{service=\"api-gateway\",status_code=~\"5..\"}["):
		f.mu.Lock()
		f.availabilityQuery = q
		f.mu.Unlock()
		result = fmt.Sprintf(`[{"metric":{},"value":[%.3f,"0.9"]}]`, float64(time.Now().UnixMilli())/1000)
	case strings.Contains(q, "otelcol_exporter_send_failed_spans"):
		f.mu.Lock()
		v := 10 + 3*min(f.dropReads, 1)
		f.dropReads++
		f.mu.Unlock()
		result = fmt.Sprintf(`[{"metric":{},"value":[%.3f,"%d"]}]`, float64(time.Now().UnixMilli())/1000, v)
	default:
		result = `[]`
	}
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":%s}}`, result)
}

func (f *fakeStack) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.goals)
}

func (f *fakeStack) args(extra ...string) []string {
	return append([]string{"load", "-key", "test-key", "-gateway", f.gateway.URL, "-jaeger", f.jaeger.URL,
		"-prometheus", f.prometheus.URL, "-poll", "20ms"}, extra...)
}

// The counter is read series by series: when an earlier gateway's series
// vanishes (a collector restart drops it), its count does not go with it.
func TestLoadCountsAcrossVanishingSeries(t *testing.T) {
	f := newFakeStack(t, func(f *fakeStack) { f.restarted, f.promDelay = true, 100*time.Millisecond })
	rep, _, _ := runLoadReport(t, f, 0, "-rate", "100", "-concurrency", "4", "-count", "20", "-duration", "5s", "-check-timeout", "5s")
	p := rep.Prometheus
	if p.Visible != 20 || p.Total != 20 || p.Baseline == nil || *p.Baseline != 7 || p.Final == nil || *p.Final != 27 {
		t.Errorf("response → Prometheus %+v, want all 20 counted, 7 → 27", p)
	}
}

// runLoadReport runs aiteams load --json against f, wants exit code want,
// and returns the report and what was printed.
func runLoadReport(t *testing.T, f *fakeStack, want int, args ...string) (loadReport, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(f.args(append(args, "--json")...), &stdout, &stderr); code != want {
		t.Fatalf("exit %d, want %d; stderr %s", code, want, stderr.String())
	}
	var rep loadReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, stdout.String())
	}
	return rep, &stdout, &stderr
}

// TestLoadAgainstFakes runs fixed-rate load against a gateway that fails
// every tenth request, with one trace that never completes, and reads the
// whole JSON report.
func TestLoadAgainstFakes(t *testing.T) {
	f := newFakeStack(t, func(f *fakeStack) {
		f.failEvery, f.incomplete = 10, fmt.Sprintf("%032x", 3)
		f.jaegerDelay, f.promDelay = 200*time.Millisecond, 200*time.Millisecond
	})
	// Exit 1: failed requests, an incomplete trace.
	rep, stdout, stderr := runLoadReport(t, f, 1, "-rate", "200", "-concurrency", "4", "-count", "40", "-duration", "5s", "-check-timeout", "1s",
		"-goal-mix", "partial=10%,fail=5%")
	if rep.Mode != "fixed_rate" || rep.TargetRate != 200 || rep.Requests != (requestCounts{Planned: 40, Sent: 40}) || f.requests() != 40 || f.authOK != 40 {
		t.Errorf("mode %s at %g, requests %+v, gateway saw %d (%d with the key)", rep.Mode, rep.TargetRate, rep.Requests, f.requests(), f.authOK)
	}
	if s := rep.Status; s.Success != 36 || s.ServerError != 4 || s.ClientError != 0 || s.TransportError != 0 || s.ByCode["201"] != 36 || s.ByCode["500"] != 4 {
		t.Errorf("status mix %+v, want 36×201 and 4×500", s)
	}
	wantRuns := map[string]int{}
	for i, g := range f.goals {
		if (i+1)%10 == 0 {
			continue
		}
		switch {
		case strings.Contains(g, "#fail"):
			wantRuns["failed"]++
		case strings.Contains(g, "#partial"):
			wantRuns["partial"]++
		default:
			wantRuns["completed"]++
		}
	}
	if fmt.Sprint(rep.Runs) != fmt.Sprint(wantRuns) || wantRuns["failed"] == 0 || wantRuns["partial"] == 0 {
		t.Errorf("runs %v, want %v with both markers sent", rep.Runs, wantRuns)
	}
	if rep.Rate <= 0 || rep.LatencyMS.P50 == nil || rep.LatencyMS.P999 == nil || *rep.LatencyMS.P50 > *rep.LatencyMS.P999 {
		t.Errorf("rate %g, latency %+v", rep.Rate, rep.LatencyMS)
	}

	tr := rep.Traces
	if tr.Checked != 40 || tr.Found != 40 || tr.Complete != 39 || tr.CompletePct != 97.5 || tr.Missing["workflow-engine server span"] != 1 ||
		len(tr.Missing) != 1 || len(tr.Incomplete) != 1 || !slices.Contains(tr.Incomplete, f.incomplete) {
		t.Errorf("traces %+v, want 40 found, 39 complete, %s without the engine", tr, f.incomplete)
	}
	if j := rep.Jaeger; j.Visible != 39 || j.Total != 40 || j.P50 == nil || *j.P50 < f.jaegerDelay.Seconds()/2 || j.ResolutionS < 0.02 {
		t.Errorf("response → Jaeger %+v, want 39 of 40 and p50 near the fake's %s", j, f.jaegerDelay)
	}
	p := rep.Prometheus
	if p.Visible != 40 || p.Total != 40 || p.P99 == nil || *p.P50 < f.promDelay.Seconds()/2 || p.Baseline == nil || *p.Baseline != 7 || p.Final == nil || *p.Final != 47 {
		t.Errorf("response → Prometheus %+v, want all 40 after about %s, 7 → 47", p, f.promDelay)
	}

	drops := map[string]dropCount{}
	for _, d := range rep.Drops {
		drops[d.Metric] = d
	}
	if d := drops["otelcol_exporter_send_failed_spans"]; d.Increase == nil || *d.Increase != 3 {
		t.Errorf("send_failed_spans: %+v, want an increase of 3", d)
	}
	if d := drops["otelcol_receiver_refused_spans"]; d.Increase != nil || d.Note == "" {
		t.Errorf("a counter without series: %+v", d)
	}
	if d := drops["otel_sdk_*"]; !strings.HasPrefix(d.Note, "not exported") {
		t.Errorf("SDK drops: %+v, want not exported", d)
	}
	if len(rep.Failures) != 2 || !strings.Contains(stderr.String(), "4 of 40 requests failed") || !strings.Contains(stderr.String(), "1 of 40 traces not complete") {
		t.Errorf("failures %q, stderr %q", rep.Failures, stderr.String())
	}

	// The document's field names are the interface for scripts.
	var doc map[string]any
	json.Unmarshal(stdout.Bytes(), &doc)
	for _, key := range []string{"mode", "requests", "achieved_rate", "status", "latency_ms", "traces", "response_to_jaeger", "response_to_prometheus", "drops", "failures"} {
		if _, ok := doc[key]; !ok {
			t.Errorf("JSON has no %q", key)
		}
	}
	latency := doc["latency_ms"].(map[string]any)
	for _, key := range []string{"p50", "p99", "p99_9"} {
		if _, ok := latency[key].(float64); !ok {
			t.Errorf("latency_ms.%s = %v", key, latency[key])
		}
	}
	// Availability as the SLO rules compute it, over the run's window.
	if a, ok := doc["availability"].(float64); !ok || a != 0.9 || !regexp.MustCompile(`\[\d+s\]\)\)`).MatchString(f.availabilityQuery) {
		t.Errorf("availability %v from %q", doc["availability"], f.availabilityQuery)
	}
	// The 2xx answers alone: what accepted requests saw beside the failed ones.
	accepted, _ := doc["accepted_latency_ms"].(map[string]any)
	if p, ok := accepted["max"].(float64); !ok || p > latency["max"].(float64) {
		t.Errorf("accepted_latency_ms %v, latency_ms %v", accepted, latency)
	}
}

// With -delay-sample n only every n-th trace is looked up while the load
// runs, timed from its answer; every trace is still checked for completeness.
func TestLoadDelaySample(t *testing.T) {
	f := newFakeStack(t, func(f *fakeStack) { f.jaegerDelay = 100 * time.Millisecond })
	rep, _, _ := runLoadReport(t, f, 0, "-rate", "100", "-concurrency", "4", "-count", "40", "-duration", "5s", "-check-timeout", "5s",
		"-delay-sample", "5")
	if rep.Traces.Checked != 40 || rep.Traces.Complete != 40 {
		t.Errorf("traces %+v, want all 40 checked and complete", rep.Traces)
	}
	if j := rep.Jaeger; j.Total != 8 || j.Visible != 8 || j.P50 == nil || *j.P50 < f.jaegerDelay.Seconds()/2 || !strings.Contains(j.Source, "every 5.") {
		t.Errorf("response → Jaeger %+v, want 8 of 8 timed", j)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var lastAnswer time.Time
	for _, at := range f.answeredAt {
		if at.After(lastAnswer) {
			lastAnswer = at
		}
	}
	during := 0
	for _, at := range f.firstLookup {
		if at.Before(lastAnswer) {
			during++
		}
	}
	if len(f.firstLookup) != 40 || during == 0 || during > 8 {
		t.Errorf("%d traces looked up, %d of them while the load ran; want 40, and 1 to 8 during it", len(f.firstLookup), during)
	}
}

// TestLoadTable runs a healthy closed loop and reads the table.
func TestLoadTable(t *testing.T) {
	f := newFakeStack(t, nil)
	var stdout, stderr bytes.Buffer
	if code := run(f.args("-concurrency", "3", "-count", "12", "-duration", "5s", "-check-timeout", "2s"), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d; stderr %s\n%s", code, stderr.String(), stdout.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"closed loop, 3 workers", "12 planned, 12 sent, 0 not sent", "2xx 12 · 4xx 0 · 5xx 0 · transport errors 0", "201 12",
		"p99.9", "12 checked: found 12 (100.0%), complete 12 (100.0%)", "response → Jaeger", "response → Prometheus", "(12 of 12 visible; resolution",
		"7 before, 19 at the end", "otelcol_exporter_send_failed_spans", "otel_sdk_*", "not exported", "complete = " + completeMeans,
		"OK: every request answered 2xx, every trace is complete, the counter counted every answer",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}

func TestLoadRefusesAGatewayOffLoopback(t *testing.T) {
	for _, u := range []string{"http://10.0.0.8:8080", "http://example.com", "http://[2001:db8::1]:8080", "http://127.0.0.1.nip.io:8080", "ftp://127.0.0.1/", "127.0.0.1:8080"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"load", "-key", "k", "-gateway", u}, &stdout, &stderr); code != 2 || stdout.Len() != 0 {
			t.Errorf("%s: exit %d, stdout %q", u, code, stdout.String())
		}
		if strings.HasPrefix(u, "http://") && !strings.Contains(stderr.String(), "loopback-only tool") {
			t.Errorf("%s: %q", u, stderr.String())
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "http://127.9.8.7", "http://[::1]:8080", "http://localhost:8080", "https://LOCALHOST"} {
		if err := requireLoopback(u); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
}

func TestLoadBadFlagsAndUnreachable(t *testing.T) {
	f := newFakeStack(t, nil)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	for name, args := range map[string][]string{
		"duration over 10m":  {"-duration", "11m"},
		"count over 100000":  {"-count", "100001"},
		"no concurrency":     {"-concurrency", "0"},
		"unknown goal mark":  {"-goal-mix", "slow=5%"},
		"mix over 100%":      {"-goal-mix", "partial=60,fail=50"},
		"gateway down":       {"-gateway", down.URL},
		"jaeger down":        {"-jaeger", down.URL},
		"prometheus down":    {"-prometheus", down.URL},
		"a positional thing": {"extra"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(f.args(args...), &stdout, &stderr); code != 2 {
			t.Errorf("%s: exit %d, want 2; %s", name, code, stderr.String())
		}
	}
	if f.requests() != 0 {
		t.Errorf("%d workflow requests sent by runs that should have stopped first", f.requests())
	}
}

func testLoadConfig(gateway string) loadConfig {
	return loadConfig{gateway: gateway, apiKey: "test-key", concurrency: 2, duration: time.Minute, count: 10,
		checkTimeout: time.Second, pollEvery: 20 * time.Millisecond}
}

func TestLoadStopsAtCount(t *testing.T) {
	f := newFakeStack(t, nil)
	c := testLoadConfig(f.gateway.URL)
	c.count = 25
	l := newLoadRun(c)
	l.drive(context.Background())
	if rep := l.summarise(); rep.Requests != (requestCounts{Planned: 25, Sent: 25}) || f.requests() != 25 {
		t.Errorf("requests %+v, gateway saw %d; want 25", rep.Requests, f.requests())
	}
}

func TestLoadStopsAtDuration(t *testing.T) {
	f := newFakeStack(t, func(f *fakeStack) { f.latency = 5 * time.Millisecond })
	for _, rate := range []float64{0, 1000} {
		c := testLoadConfig(f.gateway.URL)
		c.count, c.duration, c.rate = loadMaxCount, 300*time.Millisecond, rate
		l := newLoadRun(c)
		l.drive(context.Background())
		rep := l.summarise()
		if rep.Requests.Sent == 0 || rep.Requests.Sent >= c.count {
			t.Errorf("rate %g: %+v, want the duration to stop it", rate, rep.Requests)
		}
		for i, r := range l.reqs {
			if r.sent && r.started.After(l.start.Add(c.duration)) {
				t.Errorf("rate %g: request %d started %s after the run began, past the %s bound", rate, i, r.started.Sub(l.start), c.duration)
			}
		}
	}
}

// TestFixedRateCountsTheWaitForASlot: a gateway that takes 30 ms, one slot
// and a request planned every 10 ms. Closed-loop timing would report 30 ms
// each; planned-start timing shows the queue growing, and the requests still
// queued at the bound as not sent.
func TestFixedRateCountsTheWaitForASlot(t *testing.T) {
	service := 30 * time.Millisecond
	f := newFakeStack(t, func(f *fakeStack) { f.latency = service })
	c := testLoadConfig(f.gateway.URL)
	c.rate, c.concurrency, c.count, c.duration = 100, 1, 100, 300*time.Millisecond
	l := newLoadRun(c)
	l.drive(context.Background())
	rep := l.summarise()
	if rep.Requests.Planned != 30 || rep.Requests.NotSent == 0 || rep.Requests.Sent+rep.Requests.NotSent != 30 {
		t.Errorf("requests %+v: want 30 planned in 300 ms, some never sent", rep.Requests)
	}
	first := l.reqs[0].intended
	sent := 0
	for k, r := range l.reqs[:30] {
		if want := first.Add(time.Duration(k) * 10 * time.Millisecond); !r.intended.Equal(want) {
			t.Errorf("request %d planned at +%s, want +%s", k, r.intended.Sub(first), want.Sub(first))
		}
		if !r.sent {
			continue
		}
		sent++
		// With one slot, request k starts after the k before it took 30 ms
		// each, though it was planned at k×10 ms: it waited ≥ k×20 ms.
		if wait := r.started.Sub(r.intended); wait < time.Duration(k)*20*time.Millisecond {
			t.Errorf("request %d waited %s for its slot, want ≥ %s", k, wait, time.Duration(k)*20*time.Millisecond)
		}
	}
	last := l.reqs[sent-1]
	if clientLatency, serverTime := last.ended.Sub(last.intended), last.ended.Sub(last.started); clientLatency < serverTime+time.Duration(sent-1)*20*time.Millisecond {
		t.Errorf("last sent request: %s from its planned start, %s on the wire", clientLatency, serverTime)
	}
	if rep.LatencyMS.Max == nil || rep.LatencyMS.P50 == nil || *rep.LatencyMS.Max < float64(sent-1)*20 {
		t.Errorf("latency %+v: the max should include the %d requests' queue", rep.LatencyMS, sent)
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]float64, 100)
	thousand := make([]float64, 1000)
	for i := range thousand {
		thousand[i] = float64(i + 1)
		if i < 100 {
			hundred[i] = float64(i + 1)
		}
	}
	for _, c := range []struct {
		name   string
		sorted []float64
		p      float64
		want   float64
	}{
		{"one value", []float64{7}, 50, 7},
		{"one value, p99.9", []float64{7}, 99.9, 7},
		{"p50 of two is the lower", []float64{1, 2}, 50, 1},
		{"p51 of two", []float64{1, 2}, 51, 2},
		{"p50 of 1..100", hundred, 50, 50},
		{"p99 of 1..100", hundred, 99, 99},
		{"p99.9 of 1..100 is the max", hundred, 99.9, 100},
		{"p99.9 of 1..1000", thousand, 99.9, 999},
		{"p99 of 1..1000", thousand, 99, 990},
		{"p100 is the max", thousand, 100, 1000},
		{"p0 is the min", thousand, 0, 1},
		{"a slow tail", []float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 500}, 99, 500},
	} {
		if got := percentile(c.sorted, c.p); got != c.want {
			t.Errorf("%s: p%g = %g, want %g", c.name, c.p, got, c.want)
		}
	}
	if !math.IsNaN(percentile(nil, 50)) || percentileOf(nil, 50) != nil {
		t.Error("no values must give no percentile")
	}
	if v := percentileOf([]float64{3, 1, 2}, 50); v == nil || *v != 2 {
		t.Errorf("percentileOf sorts first: %v", v)
	}
}

func TestCounterDelays(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ends := []time.Time{at(0), at(100), at(200)}
	samples := []counterSample{
		{at(50), 10},   // baseline: nothing counted yet
		{at(300), 11},  // the first answer
		{at(550), 11},  // the second not yet
		{at(800), 13},  // the second and third
		{at(1000), 13}, // nothing more
	}
	got := counterDelays(ends, samples, 10)
	want := []float64{0.3, 0.7, 0.6}
	if len(got) != len(want) {
		t.Fatalf("delays %v, want %v", got, want)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Errorf("answer %d: %gs, want %gs", i+1, got[i], want[i])
		}
	}
	// Other traffic counted before an answer ended does not make it visible
	// earlier than the first sample after it.
	if got := counterDelays([]time.Time{at(500)}, []counterSample{{at(100), 99}, {at(700), 99}}, 10); len(got) != 1 || math.Abs(got[0]-0.2) > 1e-9 {
		t.Errorf("delays %v, want [0.2]", got)
	}
	if got := counterDelays(ends, samples[:2], 10); len(got) != 1 {
		t.Errorf("a counter that stopped at baseline+1 shows %d answers", len(got))
	}
}

func TestTracePartsMissing(t *testing.T) {
	full := fixtureReport(t).Trace // the recorded "#partial" workflow
	if m := tracePartsMissing(full); len(m) != 0 {
		t.Errorf("the recorded workflow trace is complete, got missing %q", m)
	}
	without := func(drop func(lookup.Span) bool) *lookup.Trace {
		tr := &lookup.Trace{ID: full.ID}
		for _, s := range full.Spans {
			if !drop(s) {
				tr.Spans = append(tr.Spans, s)
			}
		}
		return tr
	}
	for name, c := range map[string]struct {
		drop func(lookup.Span) bool
		want string
	}{
		"no engine":                    {func(s lookup.Span) bool { return s.Service == "workflow-engine" }, "workflow-engine server span"},
		"agent's client span only":     {func(s lookup.Span) bool { return s.Service == "workflow-agent" && s.Kind == "server" }, "workflow-agent server span"},
		"no gateway server span":       {func(s lookup.Span) bool { return s.Service == "api-gateway" && s.Kind == "server" }, "api-gateway server span"},
		"no database span":             {lookup.Span.IsDatabase, "api-gateway database span"},
		"only the gateway's own spans": {func(s lookup.Span) bool { return s.Service != "api-gateway" }, "workflow-agent server span,workflow-engine server span"},
	} {
		if got := strings.Join(tracePartsMissing(without(c.drop)), ","); got != c.want {
			t.Errorf("%s: missing %q, want %q", name, got, c.want)
		}
	}
}

func TestGoalMix(t *testing.T) {
	m, err := parseGoalMix("partial=3%, fail=2")
	if err != nil || m != (goalMix{partial: 0.03, fail: 0.02}) {
		t.Fatalf("%+v, %v", m, err)
	}
	counts := map[string]int{}
	for i := range 1000 {
		counts[m.marker(i)]++
	}
	if d := counts["#partial"] - 30; d < -2 || d > 2 {
		t.Errorf("#partial on %d of 1000, want 30±2", counts["#partial"])
	}
	if d := counts["#fail"] - 20; d < -2 || d > 2 {
		t.Errorf("#fail on %d of 1000, want 20±2", counts["#fail"])
	}
	if none, err := parseGoalMix(""); err != nil || none.marker(5) != "" {
		t.Errorf("an empty mix: %+v, %v", none, err)
	}
	for _, bad := range []string{"partial", "partial=x", "fail=-1", "partial=101", "slow=1", "partial=70,fail=40"} {
		if _, err := parseGoalMix(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if len(counts) != 3 {
		t.Errorf("markers %v", counts)
	}
}

func TestDropIncreases(t *testing.T) {
	v := func(f float64) *float64 { return &f }
	before := map[string]*float64{"otelcol_exporter_send_failed_spans": v(2), "otelcol_receiver_refused_spans": nil}
	after := map[string]*float64{"otelcol_exporter_send_failed_spans": v(5), "otelcol_receiver_refused_spans": v(4)}
	for _, q := range sdkDropQueries {
		after[q] = nil
	}
	after[sdkDropQueries[0]] = v(9) // the SDK's queue overflowed during the run
	got := map[string]dropCount{}
	for _, d := range dropIncreases(before, after) {
		got[d.Metric] = d
	}
	for metric, want := range map[string]float64{
		"otelcol_exporter_send_failed_spans": 3, // grew
		"otelcol_receiver_refused_spans":     4, // appeared: its first drops were in the run
		sdkDropQueries[0]:                    9,
	} {
		if d := got[metric]; d.Increase == nil || *d.Increase != want {
			t.Errorf("%s: %+v, want an increase of %g", metric, d, want)
		}
	}
	if d := got["otelcol_exporter_enqueue_failed_spans"]; d.Increase != nil || d.Note == "" {
		t.Errorf("never seen: %+v, want no increase and a note", d)
	}
	if _, ok := got["otel_sdk_*"]; ok || len(got) != len(collectorDropCounters)+len(sdkDropQueries) {
		t.Errorf("with the SDK's series in Prometheus, each of its counters is listed: %v", got)
	}
}
