package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/starmates-ai/ai-teams/internal/httpjson"
	"github.com/starmates-ai/ai-teams/internal/lookup"
	"github.com/starmates-ai/ai-teams/services/apigateway"
)

// Bounds of aiteams load: it is a tool for a laptop's loopback stack, not a
// load generator for shared systems.
const (
	loadMaxDuration     = 10 * time.Minute
	loadMaxCount        = 100000
	loadMaxConcurrency  = 1000
	loadMaxRate         = 10000
	loadMaxCheckTimeout = 10 * time.Minute
	loadRequestTimeout  = 30 * time.Second
	// Jaeger lookups in flight at once while checking traces.
	loadTraceCheckers = 16
)

// workflowCounterQuery selects the gateway's counters of answers to POST
// /api/v1/workflows (request_count, docs/metrics.md; the collector turns
// service.name into the service label), one series per gateway instance
// and status. They are compared series by series with the baseline, not
// summed: a collector restart drops the series of instances that are gone,
// and a sum would lose their count.
const workflowCounterQuery = `request_count{service="api-gateway",endpoint="/api/v1/workflows",method="POST"}`

// completeMeans is what aiteams load calls a complete trace; tracePartsMissing
// checks it.
const completeMeans = "server spans of api-gateway, workflow-agent and workflow-engine, and an api-gateway span with db.system.name"

// collectorDropCounters are the collector's own counters of telemetry it did
// not pass on (job otel-collector; no _total suffix in this setup, matched
// with and without). Series appear at the first increment.
var collectorDropCounters = []string{
	"otelcol_receiver_refused_spans",
	"otelcol_receiver_refused_metric_points",
	"otelcol_exporter_enqueue_failed_spans",
	"otelcol_exporter_send_failed_spans",
	"otelcol_processor_dropped_spans",
}

// sdkDropQueries are the OTel Go SDK's self-observability counters of what
// the services lost: a processed or exported item with an error_type (e.g.
// queue_full). The SDK records them only with OTEL_GO_X_OBSERVABILITY on.
var sdkDropQueries = []string{
	`otel_sdk_processor_span_processed{error_type!=""}`,
	`otel_sdk_exporter_span_exported{error_type!=""}`,
	`otel_sdk_processor_log_processed{error_type!=""}`,
	`otel_sdk_exporter_log_exported{error_type!=""}`,
	`otel_sdk_exporter_metric_data_point_exported{error_type!=""}`,
}

type loadConfig struct {
	gateway, apiKey, jaeger, prometheus string
	rate                                float64 // requests/s; 0: closed loop
	concurrency                         int
	duration                            time.Duration
	count                               int
	mix                                 goalMix
	checkTimeout                        time.Duration
	pollEvery                           time.Duration
	// delaySample: every n-th request's trace is watched from its answer
	// (its delay to Jaeger is timed); the others are looked up once the
	// run has ended, for completeness only. 1: all are timed.
	delaySample int
}

// goalMix is the share (0..1) of requests whose goal carries the planner's
// "#partial" or "#fail" marker.
type goalMix struct{ partial, fail float64 }

// loadRequest is one planned request and what became of it.
type loadRequest struct {
	planned, sent             bool
	intended, started, ended  time.Time
	status                    int // 0: no answer
	err                       string
	trackingID                string
	runStatus                 string
	traceFound, traceComplete time.Time // when Jaeger first showed any span, all parts
	missing                   []string  // parts the trace lacked at the last look
}

type loadReport struct {
	// Why the run failed; empty when it passed.
	Failures []string `json:"failures"`

	// What was asked.
	Gateway     string  `json:"gateway"`
	Mode        string  `json:"mode"` // fixed_rate or closed_loop
	TargetRate  float64 `json:"target_rate,omitempty"`
	Concurrency int     `json:"concurrency"`
	MaxDuration float64 `json:"max_duration_seconds"`
	MaxCount    int     `json:"max_count"`

	// What the requests did.
	Requests  requestCounts  `json:"requests"`
	Rate      float64        `json:"achieved_rate"`   // sent over Elapsed
	Elapsed   float64        `json:"elapsed_seconds"` // first request start to last answer
	Status    statusMix      `json:"status"`
	Runs      map[string]int `json:"runs"` // workflow run status of the 2xx answers
	LatencyMS latencySummary `json:"latency_ms"`
	// Accepted is the latency of the 2xx answers alone: under overload, what
	// the requests the gateway took on saw, beside the fast 503s.
	Accepted latencySummary `json:"accepted_latency_ms"`

	// Availability is 1 − the gateway's 5xx share over the run, computed as
	// the SLO rules compute their error ratio (monitoring/alert-rules.yml).
	Availability      *float64 `json:"availability,omitempty"`
	AvailabilityQuery string   `json:"availability_query,omitempty"`

	// What the backends showed.
	Traces     traceSummary `json:"traces"`
	Jaeger     delaySummary `json:"response_to_jaeger"`
	Prometheus delaySummary `json:"response_to_prometheus"`
	Drops      []dropCount  `json:"drops"`
}

type requestCounts struct {
	Planned int `json:"planned"`
	Sent    int `json:"sent"`
	NotSent int `json:"not_sent"`
}

type statusMix struct {
	Success        int            `json:"2xx"`
	ClientError    int            `json:"4xx"`
	ServerError    int            `json:"5xx"`
	TransportError int            `json:"transport_error"`
	ByCode         map[string]int `json:"by_code"`
	FirstError     string         `json:"first_error,omitempty"`
}

type latencySummary struct {
	From string   `json:"from"`
	P50  *float64 `json:"p50"`
	P99  *float64 `json:"p99"`
	P999 *float64 `json:"p99_9"`
	Max  *float64 `json:"max"`
}

type traceSummary struct {
	CompleteMeans string         `json:"complete_means"`
	Checked       int            `json:"checked"` // answers with a tracking id
	NoTrackingID  int            `json:"no_tracking_id"`
	Found         int            `json:"found"`
	Complete      int            `json:"complete"`
	FoundPct      float64        `json:"found_pct"`
	CompletePct   float64        `json:"complete_pct"`
	Missing       map[string]int `json:"missing"` // part → traces that lacked it at the end
	Incomplete    []string       `json:"incomplete_examples"`
	LookupErrors  int            `json:"lookup_errors"`
	LastError     string         `json:"last_error,omitempty"`
	Skipped       bool           `json:"skipped,omitempty"`
}

// delaySummary is how long after its response ended a request became
// visible in a backend.
type delaySummary struct {
	Source      string   `json:"source"`
	Visible     int      `json:"visible"`
	Total       int      `json:"total"`
	P50         *float64 `json:"p50_seconds"`
	P99         *float64 `json:"p99_seconds"`
	ResolutionS float64  `json:"resolution_seconds"`
	Baseline    *float64 `json:"baseline,omitempty"`
	Final       *float64 `json:"final,omitempty"`
	Errors      int      `json:"errors"`
	LastError   string   `json:"last_error,omitempty"`
	Skipped     bool     `json:"skipped,omitempty"`
}

type dropCount struct {
	Source   string   `json:"source"` // collector or sdk
	Metric   string   `json:"metric"`
	Increase *float64 `json:"increase"` // null: no series before or after
	Note     string   `json:"note,omitempty"`
}

func runLoad(args []string, stdout, stderr io.Writer) error {
	var c loadConfig
	fs := flag.NewFlagSet("aiteams load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Float64Var(&c.rate, "rate", 0, "fixed rate in requests/s, open loop; 0: closed loop")
	fs.IntVar(&c.concurrency, "concurrency", 4, "closed loop: workers; fixed rate: requests in flight at most")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "stop sending after this long (at most 10m)")
	fs.IntVar(&c.count, "count", 1000, "stop after this many requests (at most 100000)")
	mix := fs.String("goal-mix", "partial=3%,fail=2%", `share of goals with the planner's "#partial" and "#fail" markers`)
	fs.StringVar(&c.gateway, "gateway", envOr("GATEWAY_URL", "http://127.0.0.1:8080"), "gateway base URL, loopback only (env GATEWAY_URL)")
	fs.StringVar(&c.apiKey, "key", os.Getenv("AITEAMS_API_KEY"), "API key (env AITEAMS_API_KEY; default: make demo's, from .run/demo-api-key)")
	fs.StringVar(&c.jaeger, "jaeger", envOr("JAEGER_URL", "http://127.0.0.1:16686"), `Jaeger query API base URL (env JAEGER_URL; "": no trace check)`)
	fs.StringVar(&c.prometheus, "prometheus", envOr("PROMETHEUS_URL", "http://127.0.0.1:9090"), `Prometheus base URL (env PROMETHEUS_URL; "": no metric check)`)
	fs.DurationVar(&c.checkTimeout, "check-timeout", time.Minute, "keep polling Jaeger and Prometheus this long after the last answer (at most 10m)")
	fs.DurationVar(&c.pollEvery, "poll", 250*time.Millisecond, "poll interval of the checks: the resolution of the delays to Jaeger and Prometheus")
	fs.IntVar(&c.delaySample, "delay-sample", 1, "time the delay to Jaeger on every n-th request only; the rest are checked for completeness after the run (keeps the checker's CPU off the services at high rates)")
	asJSON := fs.Bool("json", false, "print one JSON document")
	if err := parseCommand(fs, args, stdout, "aiteams load [flags]",
		"Sends workflow requests to a loopback gateway, at a fixed rate (open loop: latency\n"+
			"counts from each request's planned start) or closed loop, bounded by -count and\n"+
			"-duration. Then looks every X-Tracking-ID up in Jaeger and watches the gateway's\n"+
			"request_count in Prometheus, and prints the rate, status mix, client latency,\n"+
			"traces found and complete, the delays from answer to visible, and the drop counters.\n"+
			"Exit 1 when a request failed or was not sent, a trace stayed incomplete, or the\n"+
			"counter fell short.", 0); err != nil {
		return err
	}
	var err error
	if c.mix, err = parseGoalMix(*mix); err != nil {
		return usageErr("-goal-mix: %v", err)
	}
	if err := c.validate(); err != nil {
		return err
	}
	if c.apiKey, err = keyOrDemoKey(c.apiKey); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	spin := newSpinner(stderr, "sending and checking")
	rep, err := runLoadTest(ctx, c, spin.tick)
	spin.stop()
	if err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		renderLoad(stdout, rep)
	}
	if len(rep.Failures) > 0 {
		return &exitError{code: 1, err: errors.New(strings.Join(rep.Failures, "; "))}
	}
	return nil
}

// keyOrDemoKey is key, or when it is empty make demo's key (.run/demo-api-key).
func keyOrDemoKey(key string) (string, error) {
	if key != "" {
		return key, nil
	}
	demo, err := os.ReadFile(".run/demo-api-key")
	if err != nil {
		return "", usageErr("no API key: set -key or AITEAMS_API_KEY, or run from the repository after make demo (%v)", err)
	}
	return strings.TrimSpace(string(demo)), nil
}

func (c loadConfig) validate() error {
	if err := requireLoopback(c.gateway); err != nil {
		return err
	}
	switch {
	case c.rate < 0 || c.rate > loadMaxRate:
		return usageErr("-rate %g: want 0 (closed loop) to %d requests/s", c.rate, loadMaxRate)
	case c.concurrency < 1 || c.concurrency > loadMaxConcurrency:
		return usageErr("-concurrency %d: want 1 to %d", c.concurrency, loadMaxConcurrency)
	case c.duration <= 0 || c.duration > loadMaxDuration:
		return usageErr("-duration %s: want more than 0, at most %s", c.duration, loadMaxDuration)
	case c.count < 1 || c.count > loadMaxCount:
		return usageErr("-count %d: want 1 to %d", c.count, loadMaxCount)
	case c.checkTimeout < 0 || c.checkTimeout > loadMaxCheckTimeout:
		return usageErr("-check-timeout %s: want 0 to %s", c.checkTimeout, loadMaxCheckTimeout)
	case c.pollEvery < 10*time.Millisecond || c.pollEvery > 10*time.Second:
		return usageErr("-poll %s: want 10ms to 10s", c.pollEvery)
	case c.delaySample < 1 || c.delaySample > c.count:
		return usageErr("-delay-sample %d: want 1 (every request) to -count", c.delaySample)
	}
	return nil
}

// requireLoopback refuses a gateway that is not on this machine's loopback:
// load against a shared system needs its owners' say, not a flag.
func requireLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageErr("-gateway %q is not an http(s) URL", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); strings.EqualFold(host, "localhost") || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return usageErr("-gateway %q: %s is not a loopback address (127.0.0.0/8, ::1, localhost); aiteams load is a loopback-only tool", raw, host)
}

// parseGoalMix reads "partial=3%,fail=2%" (percent, the % optional).
func parseGoalMix(s string) (goalMix, error) {
	var m goalMix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		pct, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), "%"), 64)
		if !ok || err != nil || pct < 0 || pct > 100 {
			return m, fmt.Errorf("%q: want partial=<percent> or fail=<percent>", part)
		}
		switch strings.TrimSpace(k) {
		case "partial":
			m.partial = pct / 100
		case "fail":
			m.fail = pct / 100
		default:
			return m, fmt.Errorf("%q: the markers are partial and fail", k)
		}
	}
	if m.partial+m.fail > 1 {
		return m, errors.New("the shares add up to more than 100%")
	}
	return m, nil
}

// marker picks request i's goal marker from a low-discrepancy sequence
// (multiples of the golden ratio), so the shares hold closely over any
// stretch of requests and a run is repeatable.
func (m goalMix) marker(i int) string {
	x := math.Mod(float64(i)*math.Phi, 1)
	switch {
	case x < m.fail:
		return "#fail"
	case x < m.fail+m.partial:
		return "#partial"
	}
	return ""
}

// statusRecorder keeps the HTTP status of each answer in the slot its
// request's context carries: the typed client reports a 2xx only as success.
type statusRecorder struct{ next http.RoundTripper }

type statusSlot struct{}

func (s statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if slot, ok := req.Context().Value(statusSlot{}).(*int); ok && resp != nil {
		*slot = resp.StatusCode
	}
	return resp, err
}

// loadRun is one run: the requests, and the channel over which each answered
// request with a tracking id reaches the trace check.
type loadRun struct {
	cfg      loadConfig
	start    time.Time // sending began; the -duration bound counts from here
	client   *apigateway.Client
	reqs     []loadRequest
	answered chan int
}

func newLoadRun(c loadConfig) *loadRun {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil
	transport.MaxIdleConnsPerHost = c.concurrency
	return &loadRun{
		cfg:      c,
		client:   apigateway.NewClient(c.gateway, c.apiKey, &http.Client{Transport: statusRecorder{next: transport}}),
		reqs:     make([]loadRequest, c.count),
		answered: make(chan int, c.count),
	}
}

type loadJob struct {
	index    int
	intended time.Time // zero in closed loop: the start is the plan
}

// runLoadTest checks that the backends answer, drives the load while the
// checks watch, and summarises. tick is called while it waits.
func runLoadTest(ctx context.Context, c loadConfig, tick func()) (loadReport, error) {
	l := newLoadRun(c)
	var jaeger *lookup.Jaeger
	var prom *lookup.Prometheus
	if c.jaeger != "" {
		// Keeps a connection per checker; the default transport keeps two.
		checkTransport := http.DefaultTransport.(*http.Transport).Clone()
		checkTransport.MaxIdleConnsPerHost = loadTraceCheckers
		jaeger = &lookup.Jaeger{BaseURL: c.jaeger, Client: &http.Client{Timeout: 10 * time.Second, Transport: checkTransport}}
	}
	if c.prometheus != "" {
		prom = &lookup.Prometheus{BaseURL: c.prometheus}
	}

	if _, _, err := l.client.Health(ctx); err != nil && transportFailure(err) {
		return loadReport{}, &exitError{code: 2, err: fmt.Errorf("gateway unreachable at %s: %w", c.gateway, err)}
	}
	if jaeger != nil {
		if _, err := jaeger.Services(ctx); err != nil {
			return loadReport{}, &exitError{code: 2, err: fmt.Errorf("Jaeger unreachable: %w", err)}
		}
	}
	var baseline float64
	var baseSeries map[string]float64
	var dropsBefore map[string]*float64
	if prom != nil {
		var err error
		if baseSeries, err = readCounterSeries(ctx, *prom); err != nil {
			return loadReport{}, &exitError{code: 2, err: fmt.Errorf("Prometheus unreachable: %w", err)}
		}
		for _, v := range baseSeries {
			baseline += v
		}
		dropsBefore = readDropCounters(ctx, *prom)
	}

	runEnded := make(chan struct{})
	traces := &traceWatcher{jaeger: jaeger, reqs: l.reqs, answered: l.answered, sampleEvery: max(c.delaySample, 1), runEnded: runEnded, pollEvery: c.pollEvery}
	counter := &counterWatcher{prom: prom, baseline: baseline, baseSeries: baseSeries}
	var watchers sync.WaitGroup
	if jaeger != nil {
		watchers.Go(func() {
			pollUntil(ctx, c.pollEvery, c.checkTimeout, runEnded, traces.poll, traces.finished)
		})
	}
	if prom != nil {
		watchers.Go(func() {
			counter.longestGap = pollUntil(ctx, c.pollEvery, c.checkTimeout, runEnded, counter.poll, counter.finished)
		})
	}

	done := make(chan struct{})
	runStart := time.Now()
	go func() {
		l.drive(ctx)
		counter.target = baseline + float64(l.answeredCount())
		close(runEnded)
		watchers.Wait()
		close(done)
	}()
	waitTicking(done, tick)

	rep := l.summarise()
	rep.Traces, rep.Jaeger = traces.summary(l.reqs, c.jaeger)
	if prom != nil {
		rep.Prometheus = counter.summary(l.reqs)
		rep.Drops = dropIncreases(dropsBefore, readDropCounters(context.WithoutCancel(ctx), *prom))
		rep.AvailabilityQuery = availabilityQuery(time.Since(runStart))
		if v, err := prom.Query(context.WithoutCancel(ctx), rep.AvailabilityQuery); err == nil && len(v) == 1 {
			rep.Availability = &v[0].Value
		}
	} else {
		rep.Prometheus = delaySummary{Source: "no -prometheus", Skipped: true}
	}
	rep.Failures = loadFailures(rep)
	return rep, nil
}

// availabilityQuery is the SLO rules' error ratio for the gateway over the
// window since the run started (whole seconds), turned into availability.
func availabilityQuery(since time.Duration) string {
	w := fmt.Sprintf("%ds", int(math.Ceil(since.Seconds())))
	return `1 - ((sum(increase(request_count{service="api-gateway",status_code=~"5.."}[` + w + `])) or vector(0)) / sum(increase(request_count{service="api-gateway"}[` + w + `])))`
}

// transportFailure: err is not an answer of the gateway, which would carry a status.
func transportFailure(err error) bool {
	var answered *httpjson.RemoteError
	return !errors.As(err, &answered)
}

func waitTicking(done <-chan struct{}, tick func()) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			tick()
		}
	}
}

// drive sends the requests until -count or -duration, whichever is first.
// Fixed rate is open loop: each request has a planned start at i/rate and
// waits for a free slot (at most -concurrency in flight) from then, so its
// latency includes that wait; those still waiting at the bound are not sent.
func (l *loadRun) drive(ctx context.Context) {
	c := l.cfg
	l.start = time.Now()
	deadline := l.start.Add(c.duration)
	buffer := 0
	if c.rate > 0 {
		buffer = c.count
	}
	jobs := make(chan loadJob, buffer)
	var workers sync.WaitGroup
	for range c.concurrency {
		workers.Go(func() {
			for j := range jobs {
				// Past the bound a fixed-rate job stays planned but not sent;
				// a closed loop's was never part of a plan.
				now := time.Now()
				if now.After(deadline) || ctx.Err() != nil {
					continue
				}
				l.send(ctx, j, now)
			}
		})
	}
	if c.rate > 0 {
		l.schedule(ctx, jobs, l.start, deadline)
	} else {
		feed(ctx, jobs, c.count, deadline)
	}
	close(jobs)
	workers.Wait()
}

func (l *loadRun) schedule(ctx context.Context, jobs chan<- loadJob, start, deadline time.Time) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := range l.cfg.count {
		intended := start.Add(time.Duration(float64(i) * float64(time.Second) / l.cfg.rate))
		if !intended.Before(deadline) {
			return
		}
		timer.Reset(time.Until(intended))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		l.reqs[i].planned, l.reqs[i].intended = true, intended
		jobs <- loadJob{index: i, intended: intended}
	}
}

func feed(ctx context.Context, jobs chan<- loadJob, count int, deadline time.Time) {
	bound := time.NewTimer(time.Until(deadline))
	defer bound.Stop()
	for i := range count {
		select {
		case jobs <- loadJob{index: i}:
		case <-bound.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (l *loadRun) send(ctx context.Context, j loadJob, started time.Time) {
	r := &l.reqs[j.index]
	r.planned, r.sent, r.started = true, true, started
	r.intended = j.intended
	if r.intended.IsZero() {
		r.intended = r.started
	}
	goal := strings.TrimSpace(fmt.Sprintf("aiteams load request %d %s", j.index, l.cfg.mix.marker(j.index)))
	rctx, cancel := context.WithTimeout(context.WithValue(ctx, statusSlot{}, &r.status), loadRequestTimeout)
	run, id, err := l.client.CreateWorkflow(rctx, apigateway.CreateWorkflowRequest{UserID: "user_load", Goal: goal})
	cancel()
	r.ended = time.Now()
	if err != nil {
		r.err = err.Error()
	}
	if run != nil {
		r.runStatus = run.Status
	}
	if parsed, perr := lookup.ParseTrackingID(id); perr == nil && id != "" {
		r.trackingID = parsed
		l.answered <- j.index
	}
}

func (l *loadRun) answeredCount() int {
	n := 0
	for i := range l.reqs {
		if l.reqs[i].status != 0 {
			n++
		}
	}
	return n
}

// pollUntil calls poll every interval until the run has ended and either
// finished holds or checkTimeout has passed since; it returns the longest
// gap between two polls, the resolution of what they time.
func pollUntil(ctx context.Context, every, checkTimeout time.Duration, runEnded <-chan struct{}, poll func(context.Context), finished func() bool) time.Duration {
	var deadline, last time.Time
	var longest time.Duration
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if deadline.IsZero() {
			select {
			case <-runEnded:
				deadline = time.Now().Add(checkTimeout)
			default:
			}
		}
		started := time.Now()
		if !last.IsZero() {
			longest = max(longest, started.Sub(last))
		}
		last = started
		poll(ctx)
		if !deadline.IsZero() && (finished() || time.Now().After(deadline)) {
			return max(longest, every)
		}
		timer.Reset(time.Until(started.Add(every)))
		select {
		case <-ctx.Done():
			return max(longest, every)
		case <-timer.C:
		}
	}
}

// traceWatcher looks each timed request's trace up from the moment its
// answer arrived, so the delay to Jaeger is the pipeline's, not the rest of
// the run's. Requests outside the delay sample wait for the run's end.
type traceWatcher struct {
	jaeger      *lookup.Jaeger
	reqs        []loadRequest
	answered    <-chan int
	sampleEvery int
	runEnded    <-chan struct{}
	pending     []int
	later       []int // answered, not timed: looked up after the run
	pollEvery   time.Duration
	lastPoll    time.Time
	// timedGap is the longest time between two polls while a timed request
	// waited: the resolution of the delays (the untimed lookups after the
	// run take longer, and time nothing).
	timedGap time.Duration

	mu        sync.Mutex
	errors    int
	lastError string
}

func (w *traceWatcher) poll(ctx context.Context) {
	// Read before draining: once the run has ended every answer is queued,
	// so none can arrive, timed, behind the lookups after the run.
	ended := w.ended()
	for more := true; more; {
		select {
		case i := <-w.answered:
			if w.timed(i) {
				w.pending = append(w.pending, i)
			} else {
				w.later = append(w.later, i)
			}
		default:
			more = false
		}
	}
	now := time.Now()
	if slices.ContainsFunc(w.pending, w.timed) {
		if !w.lastPoll.IsZero() {
			w.timedGap = max(w.timedGap, now.Sub(w.lastPoll))
		}
	} else if len(w.later) > 0 && ended {
		// The timed ones are done: their delays stay the pipeline's.
		w.pending, w.later = append(w.pending, w.later...), nil
	}
	w.lastPoll = now
	slots := make(chan struct{}, loadTraceCheckers)
	var checks sync.WaitGroup
	for _, i := range w.pending {
		slots <- struct{}{}
		checks.Go(func() {
			defer func() { <-slots }()
			w.check(ctx, &w.reqs[i])
		})
	}
	checks.Wait()
	w.pending = slices.DeleteFunc(w.pending, func(i int) bool { return !w.reqs[i].traceComplete.IsZero() })
}

func (w *traceWatcher) check(ctx context.Context, r *loadRequest) {
	t, err := w.jaeger.Trace(ctx, r.trackingID)
	seen := time.Now()
	if err != nil {
		if !errors.Is(err, lookup.ErrNotFound) && ctx.Err() == nil {
			w.mu.Lock()
			w.errors++
			w.lastError = err.Error()
			w.mu.Unlock()
		}
		return
	}
	if r.traceFound.IsZero() {
		r.traceFound = seen
	}
	r.missing = tracePartsMissing(t)
	if len(r.missing) == 0 {
		r.traceComplete = seen
	}
}

func (w *traceWatcher) finished() bool { return len(w.pending) == 0 && len(w.later) == 0 }

// timed reports whether request i is in the delay sample.
func (w *traceWatcher) timed(i int) bool { return w.sampleEvery <= 1 || i%w.sampleEvery == 0 }

func (w *traceWatcher) ended() bool {
	select {
	case <-w.runEnded:
		return true
	default:
		return false
	}
}

// tracePartsMissing lists what a workflow request's trace lacks of a
// complete one: each service's server span and the gateway's database span.
func tracePartsMissing(t *lookup.Trace) []string {
	server := map[string]bool{}
	gatewayDB := false
	for _, s := range t.Spans {
		if s.Kind == "server" {
			server[s.Service] = true
		}
		if s.Service == "api-gateway" && s.IsDatabase() {
			gatewayDB = true
		}
	}
	var missing []string
	for _, svc := range []string{"api-gateway", "workflow-agent", "workflow-engine"} {
		if !server[svc] {
			missing = append(missing, svc+" server span")
		}
	}
	if !gatewayDB {
		missing = append(missing, "api-gateway database span")
	}
	return missing
}

// timedCount is how many requests with a tracking id are in the delay sample.
func (w *traceWatcher) timedCount(reqs []loadRequest) int {
	n := 0
	for i := range reqs {
		if reqs[i].sent && reqs[i].trackingID != "" && w.timed(i) {
			n++
		}
	}
	return n
}

func (w *traceWatcher) summary(reqs []loadRequest, jaegerURL string) (traceSummary, delaySummary) {
	ts := traceSummary{CompleteMeans: completeMeans, Missing: map[string]int{}, Incomplete: []string{}}
	ds := delaySummary{Source: "Jaeger " + strings.TrimRight(jaegerURL, "/") + "/api/traces/<id>, complete traces"}
	if w.jaeger == nil {
		ts.Skipped, ds.Skipped, ds.Source = true, true, "no -jaeger"
		return ts, ds
	}
	var delays []float64
	for i := range reqs {
		r := &reqs[i]
		switch {
		case !r.sent:
			continue
		case r.trackingID == "":
			ts.NoTrackingID++
			continue
		}
		ts.Checked++
		if !r.traceFound.IsZero() {
			ts.Found++
		}
		if r.traceComplete.IsZero() {
			for _, m := range r.missing {
				ts.Missing[m]++
			}
			if r.traceFound.IsZero() {
				ts.Missing["the whole trace"]++
			}
			if len(ts.Incomplete) < 10 {
				ts.Incomplete = append(ts.Incomplete, r.trackingID)
			}
			continue
		}
		ts.Complete++
		if w.timed(i) {
			delays = append(delays, r.traceComplete.Sub(r.ended).Seconds())
		}
	}
	ts.FoundPct, ts.CompletePct = share100(ts.Found, ts.Checked), share100(ts.Complete, ts.Checked)
	ts.LookupErrors, ts.LastError = w.errors, w.lastError
	ds.Visible, ds.Total = ts.Complete, ts.Checked
	if w.sampleEvery > 1 {
		ds.Visible, ds.Total = len(delays), w.timedCount(reqs)
		ds.Source += fmt.Sprintf(", every %d. request timed", w.sampleEvery)
	}
	ds.P50, ds.P99 = percentileOf(delays, 50), percentileOf(delays, 99)
	ds.ResolutionS = max(w.timedGap, w.pollEvery).Seconds()
	ds.Errors, ds.LastError = w.errors, w.lastError
	return ts, ds
}

// counterWatcher samples the gateway's request counter; the n-th answer (in
// the order they ended) is visible once the counter reads baseline+n.
type counterWatcher struct {
	prom       *lookup.Prometheus
	baseline   float64            // the series' sum before the run
	baseSeries map[string]float64 // each series before the run
	target     float64            // set when the run has ended
	samples    []counterSample
	longestGap time.Duration
	errors     int
	lastError  string
}

type counterSample struct {
	at    time.Time // when the answer arrived: an upper bound of when the value was there
	value float64
}

func (w *counterWatcher) poll(ctx context.Context) {
	series, err := readCounterSeries(ctx, *w.prom)
	if err != nil {
		if ctx.Err() == nil {
			w.errors++
			w.lastError = err.Error()
		}
		return
	}
	w.samples = append(w.samples, counterSample{at: time.Now(), value: w.baseline + countedSince(w.baseSeries, series)})
}

// readCounterSeries reads workflowCounterQuery, each series by its labels.
func readCounterSeries(ctx context.Context, prom lookup.Prometheus) (map[string]float64, error) {
	samples, err := prom.Query(ctx, workflowCounterQuery)
	if err != nil {
		return nil, err
	}
	series := make(map[string]float64, len(samples))
	for _, s := range samples {
		keys := slices.Sorted(maps.Keys(s.Labels))
		var id strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&id, "%s=%q,", k, s.Labels[k])
		}
		series[id.String()] += s.Value
	}
	return series, nil
}

// countedSince is how much the counters grew since base: each series
// against its own baseline, a new one (a new instance, or one that
// restarted from zero) in full, and a series that is gone not at all.
func countedSince(base, now map[string]float64) float64 {
	var n float64
	for id, v := range now {
		if b, ok := base[id]; ok && v >= b {
			n += v - b
		} else {
			n += v
		}
	}
	return n
}

func (w *counterWatcher) finished() bool {
	return len(w.samples) > 0 && w.samples[len(w.samples)-1].value >= w.target
}

func (w *counterWatcher) summary(reqs []loadRequest) delaySummary {
	ds := delaySummary{Source: "Prometheus " + workflowCounterQuery + ", each series against its baseline, ≥ n", ResolutionS: w.longestGap.Seconds(),
		Errors: w.errors, LastError: w.lastError}
	base := w.baseline
	ds.Baseline = &base
	if len(w.samples) > 0 {
		final := w.samples[len(w.samples)-1].value
		ds.Final = &final
	}
	var ends []time.Time
	for i := range reqs {
		if reqs[i].status != 0 {
			ends = append(ends, reqs[i].ended)
		}
	}
	sort.Slice(ends, func(a, b int) bool { return ends[a].Before(ends[b]) })
	ds.Total = len(ends)
	delays := counterDelays(ends, w.samples, w.baseline)
	ds.Visible = len(delays)
	ds.P50, ds.P99 = percentileOf(delays, 50), percentileOf(delays, 99)
	return ds
}

// counterDelays: for the n-th answer (ends sorted), the seconds from its
// end to the first sample after it that reads at least baseline+n.
func counterDelays(ends []time.Time, samples []counterSample, baseline float64) []float64 {
	var delays []float64
	s := 0
	for n, end := range ends {
		for s < len(samples) && (samples[s].at.Before(end) || samples[s].value < baseline+float64(n+1)) {
			s++
		}
		if s == len(samples) {
			break
		}
		delays = append(delays, samples[s].at.Sub(end).Seconds())
	}
	return delays
}

// readDropCounters reads each drop counter's current sum; nil where no
// series exists (they appear at the first drop). A failed query is nil too:
// the counters are a report, not a check.
func readDropCounters(ctx context.Context, prom lookup.Prometheus) map[string]*float64 {
	out := map[string]*float64{}
	read := func(key, q string) {
		s, err := prom.Query(ctx, q)
		if err != nil || len(s) == 0 {
			out[key] = nil
			return
		}
		v := s[0].Value
		out[key] = &v
	}
	for _, m := range collectorDropCounters {
		read(m, fmt.Sprintf(`sum({__name__=~"%s(_total)?"})`, m))
	}
	if s, err := prom.Query(ctx, `count({__name__=~"otel_sdk_.+"})`); err == nil && len(s) > 0 && s[0].Value > 0 {
		for _, q := range sdkDropQueries {
			read(q, "sum("+q+")")
		}
	}
	return out
}

func dropIncreases(before, after map[string]*float64) []dropCount {
	increase := func(key string) *float64 {
		a, b := after[key], before[key]
		switch {
		case a == nil:
			return nil
		case b == nil:
			return a
		}
		d := *a - *b
		return &d
	}
	var out []dropCount
	for _, m := range collectorDropCounters {
		d := dropCount{Source: "collector", Metric: m, Increase: increase(m)}
		if d.Increase == nil {
			d.Note = "no series (none dropped since the collector started, or not exported)"
		}
		out = append(out, d)
	}
	if _, exported := after[sdkDropQueries[0]]; !exported {
		return append(out, dropCount{Source: "sdk", Metric: "otel_sdk_*",
			Note: "not exported: Prometheus has no otel_sdk_* series (the SDK's self-observability, OTEL_GO_X_OBSERVABILITY, is off)"})
	}
	for _, q := range sdkDropQueries {
		d := dropCount{Source: "sdk", Metric: q, Increase: increase(q)}
		if d.Increase == nil {
			d.Note = "no series"
		}
		out = append(out, d)
	}
	return out
}

// summarise counts what the requests did.
func (l *loadRun) summarise() loadReport {
	c := l.cfg
	rep := loadReport{Gateway: c.gateway, Mode: "closed_loop", Concurrency: c.concurrency, MaxDuration: c.duration.Seconds(), MaxCount: c.count,
		Status: statusMix{ByCode: map[string]int{}}, Runs: map[string]int{}, Drops: []dropCount{}}
	rep.LatencyMS.From = "request start"
	if c.rate > 0 {
		rep.Mode, rep.TargetRate = "fixed_rate", c.rate
		rep.LatencyMS.From = "planned start, so waiting for a slot counts"
	}
	var first, last time.Time
	var latencies, accepted []float64
	for i := range l.reqs {
		r := &l.reqs[i]
		if r.planned {
			rep.Requests.Planned++
		}
		if !r.sent {
			continue
		}
		rep.Requests.Sent++
		if first.IsZero() || r.started.Before(first) {
			first = r.started
		}
		if r.ended.After(last) {
			last = r.ended
		}
		if r.err != "" && rep.Status.FirstError == "" {
			rep.Status.FirstError = r.err
		}
		switch r.status / 100 {
		case 0:
			rep.Status.TransportError++
			continue
		case 2:
			rep.Status.Success++
		case 4:
			rep.Status.ClientError++
		case 5:
			rep.Status.ServerError++
		}
		rep.Status.ByCode[strconv.Itoa(r.status)]++
		if r.runStatus != "" {
			rep.Runs[r.runStatus]++
		}
		took := float64(r.ended.Sub(r.intended).Microseconds()) / 1000
		latencies = append(latencies, took)
		if r.status/100 == 2 {
			accepted = append(accepted, took)
		}
	}
	rep.Requests.NotSent = rep.Requests.Planned - rep.Requests.Sent
	if rep.Requests.Sent > 0 {
		rep.Elapsed = last.Sub(first).Seconds()
		if rep.Elapsed > 0 {
			rep.Rate = float64(rep.Requests.Sent) / rep.Elapsed
		}
	}
	rep.LatencyMS.fill(latencies)
	rep.Accepted.From = rep.LatencyMS.From
	rep.Accepted.fill(accepted)
	return rep
}

func (s *latencySummary) fill(ms []float64) {
	s.P50, s.P99, s.P999, s.Max = percentileOf(ms, 50), percentileOf(ms, 99), percentileOf(ms, 99.9), percentileOf(ms, 100)
}

func loadFailures(rep loadReport) []string {
	failures := []string{}
	if bad := rep.Requests.Sent - rep.Status.Success; bad > 0 {
		failures = append(failures, fmt.Sprintf("%d of %d requests failed (4xx %d, 5xx %d, transport %d)",
			bad, rep.Requests.Sent, rep.Status.ClientError, rep.Status.ServerError, rep.Status.TransportError))
	}
	if rep.Requests.NotSent > 0 {
		failures = append(failures, fmt.Sprintf("%d requests not sent: still waiting for one of the %d slots at the %s bound",
			rep.Requests.NotSent, rep.Concurrency, time.Duration(rep.MaxDuration*float64(time.Second))))
	}
	if t := rep.Traces; !t.Skipped && t.Complete < t.Checked {
		failures = append(failures, fmt.Sprintf("%d of %d traces not complete", t.Checked-t.Complete, t.Checked))
	}
	if p := rep.Prometheus; !p.Skipped && p.Visible < p.Total {
		failures = append(failures, fmt.Sprintf("the request counter showed %d of %d answers", p.Visible, p.Total))
	}
	return failures
}

// percentile is the nearest-rank percentile (p in 0..100) of sorted
// values: the smallest value that at least p% of them are not above.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	// The epsilon keeps 99.9% of 1000 at rank 999, which float rounding
	// would push to 1000.
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// percentileOf sorts a copy of values; nil (JSON null) when there are none.
func percentileOf(values []float64, p float64) *float64 {
	if len(values) == 0 {
		return nil
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	v := percentile(sorted, p)
	return &v
}

func share100(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return math.Round(float64(n)/float64(of)*1000) / 10
}

func renderLoad(w io.Writer, rep loadReport) {
	mode := fmt.Sprintf("closed loop, %d workers", rep.Concurrency)
	if rep.Mode == "fixed_rate" {
		mode = fmt.Sprintf("fixed rate %g/s, at most %d in flight", rep.TargetRate, rep.Concurrency)
	}
	fmt.Fprintf(w, "aiteams load → %s: %s, bound %s or %d requests\n\n", rep.Gateway, mode,
		time.Duration(rep.MaxDuration*float64(time.Second)), rep.MaxCount)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(w, "  %-22s %s\n", name, fmt.Sprintf(format, args...))
	}
	row("requests", "%d planned, %d sent, %d not sent", rep.Requests.Planned, rep.Requests.Sent, rep.Requests.NotSent)
	row("achieved rate", "%.1f/s (sent over %.2fs, first start to last answer)", rep.Rate, rep.Elapsed)
	row("status", "2xx %d · 4xx %d · 5xx %d · transport errors %d   %s", rep.Status.Success, rep.Status.ClientError,
		rep.Status.ServerError, rep.Status.TransportError, countsLine(rep.Status.ByCode))
	if len(rep.Runs) > 0 {
		row("workflow runs", "%s", countsLine(rep.Runs))
	}
	if rep.Availability != nil {
		row("availability", "%.3f%%  (1 − the gateway's 5xx share over the run, as the SLO rules compute it)", *rep.Availability*100)
	}
	row("client latency", "p50 %s · p99 %s · p99.9 %s · max %s  (from the %s)", ms(rep.LatencyMS.P50), ms(rep.LatencyMS.P99),
		ms(rep.LatencyMS.P999), ms(rep.LatencyMS.Max), rep.LatencyMS.From)
	if rep.Status.Success < rep.Requests.Sent && rep.Status.Success > 0 {
		row("  accepted (2xx)", "p50 %s · p99 %s · p99.9 %s · max %s", ms(rep.Accepted.P50), ms(rep.Accepted.P99), ms(rep.Accepted.P999), ms(rep.Accepted.Max))
	}
	if t := rep.Traces; t.Skipped {
		row("traces", "not checked (no -jaeger)")
	} else {
		row("traces", "%d checked: found %d (%.1f%%), complete %d (%.1f%%)", t.Checked, t.Found, t.FoundPct, t.Complete, t.CompletePct)
		if len(t.Missing) > 0 {
			row("  incomplete", "%s; e.g. %s", countsLine(t.Missing), strings.Join(t.Incomplete[:min(3, len(t.Incomplete))], ", "))
		}
		if t.NoTrackingID > 0 {
			row("  no tracking id", "%d answers (transport errors have none)", t.NoTrackingID)
		}
	}
	for _, d := range []struct {
		name string
		s    delaySummary
	}{{"response → Jaeger", rep.Jaeger}, {"response → Prometheus", rep.Prometheus}} {
		if d.s.Skipped {
			row(d.name, "not checked (%s)", d.s.Source)
			continue
		}
		row(d.name, "p50 %s · p99 %s  (%d of %d visible; resolution %.2fs)", sec(d.s.P50), sec(d.s.P99), d.s.Visible, d.s.Total, d.s.ResolutionS)
		if d.s.Errors > 0 {
			row("  lookup errors", "%d, last: %s", d.s.Errors, d.s.LastError)
		}
	}
	if rep.Prometheus.Baseline != nil && rep.Prometheus.Final != nil {
		row("  request_count", "%.0f before, %.0f at the end", *rep.Prometheus.Baseline, *rep.Prometheus.Final)
	}
	if len(rep.Drops) > 0 {
		fmt.Fprintf(w, "\n  drops over the run (increase)\n")
	}
	for _, d := range rep.Drops {
		v := "-"
		if d.Increase != nil {
			v = strconv.FormatFloat(*d.Increase, 'f', -1, 64)
		}
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("    %-9s %-48s %6s  %s", d.Source, d.Metric, v, d.Note), " "))
	}
	ok := "every request answered 2xx"
	if !rep.Traces.Skipped {
		fmt.Fprintf(w, "\n  complete = %s\n", completeMeans)
		ok += ", every trace is complete"
	}
	if !rep.Prometheus.Skipped {
		ok += ", the counter counted every answer"
	}
	if len(rep.Failures) == 0 {
		fmt.Fprintf(w, "\nOK: %s\n", ok)
		return
	}
	fmt.Fprintln(w)
	for _, f := range rep.Failures {
		fmt.Fprintf(w, "FAIL: %s\n", f)
	}
}

// countsLine prints "k n" pairs, largest first.
func countsLine(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if m[keys[a]] != m[keys[b]] {
			return m[keys[a]] > m[keys[b]]
		}
		return keys[a] < keys[b]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, " · ")
}

func ms(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', 1, 64) + "ms"
}

func sec(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', 2, 64) + "s"
}
