package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/starmates-ai/ai-teams/internal/lookup"
)

// Grafana Cloud's free tier, and the paid steps the design guide names.
const (
	freeSeries    = 10000
	freeLogsGB    = 50.0
	freeTracesGB  = 50.0
	freeRetention = "14 days"
	month         = 30 * 24 * time.Hour
	warnShare     = 0.8
)

var paidSteps = []string{"Grafana Pro: $29/month (the guide: from 100 users)", "Grafana Advanced: $299/month (the guide: from 1000 users)"}

// Labels every series must keep: dropping them would mix environments,
// projects or services, or break Prometheus' own bookkeeping.
var keptLabels = map[string]bool{"__name__": true, "environment": true, "project": true, "service": true, "job": true, "instance": true}

type usageReport struct {
	Prometheus string       `json:"prometheus"`
	Series     seriesUsage  `json:"series"`
	Samples    float64      `json:"samples_per_second"`
	Logs       volumeUsage  `json:"logs"`
	Traces     volumeUsage  `json:"traces"`
	Retention  string       `json:"retention"`
	Warnings   []string     `json:"warnings"`
	Over       []string     `json:"over"`
	PaidSteps  []string     `json:"paid_steps"`
	Costliest  []metricCost `json:"costliest_metrics"`
}

type seriesUsage struct {
	Active    int            `json:"active"` // Prometheus' head series
	Limit     int            `json:"limit"`
	Share     float64        `json:"share"`
	ByService map[string]int `json:"by_service"`
}

type volumeUsage struct {
	Source      string  `json:"source"`
	PerSecond   float64 `json:"bytes_per_second"`
	MonthGB     float64 `json:"month_gb"`
	LimitGB     float64 `json:"limit_gb"`
	Share       float64 `json:"share"`
	Explanation string  `json:"explanation"`
}

type metricCost struct {
	Metric string  `json:"metric"`
	Series int     `json:"series"`
	Share  float64 `json:"share"`
	Cut    string  `json:"cut"`
}

func runUsage(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("aiteams usage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	promURL := fs.String("prometheus", envOr("PROMETHEUS_URL", "http://127.0.0.1:9090"), "Prometheus base URL (env PROMETHEUS_URL)")
	jaegerURL := fs.String("jaeger", envOr("JAEGER_URL", "http://127.0.0.1:16686"), "Jaeger query API base URL, for the size of a span (env JAEGER_URL)")
	logDir := fs.String("log-dir", envOr("AITEAMS_LOG_DIR", ".run/logs"), "folder of the services' JSON logs (<service>.log)")
	asJSON := fs.Bool("json", false, "print one JSON document")
	if err := parseCommand(fs, args, stdout, "aiteams usage [flags]",
		"Reads Prometheus (active series per metric and service, samples per second), the\n"+
			"services' log volume and the collector's span rate, projects a month at the current\n"+
			"rate and compares it with Grafana Cloud's free tier. Exit 1 when a projection is over it.", 0); err != nil {
		return err
	}
	ctx := context.Background()
	rep, err := measureUsage(ctx, lookup.Prometheus{BaseURL: *promURL}, *jaegerURL, *logDir)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if *asJSON {
		if err := printJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		renderUsage(stdout, rep, colorsFor(stdout))
	}
	if len(rep.Over) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("over the free tier: %s", strings.Join(rep.Over, "; "))}
	}
	return nil
}

func measureUsage(ctx context.Context, prom lookup.Prometheus, jaegerURL, logDir string) (usageReport, error) {
	rep := usageReport{Prometheus: prom.BaseURL, Retention: freeRetention + " free (the local Prometheus keeps 7 days)", PaidSteps: paidSteps}
	head, err := prom.Head(ctx)
	if err != nil {
		return rep, err
	}
	rep.Series = seriesUsage{Active: head.Series, Limit: freeSeries, Share: float64(head.Series) / freeSeries, ByService: map[string]int{}}
	bySvc, err := prom.Query(ctx, `count by (service) ({service!=""})`)
	if err != nil {
		return rep, err
	}
	for _, s := range bySvc {
		rep.Series.ByService[s.Labels["service"]] = int(s.Value)
	}
	if rep.Samples, err = prom.Scalar(ctx, `sum(rate(prometheus_tsdb_head_samples_appended_total[1m]))`); err != nil {
		return rep, err
	}
	rep.Costliest, err = costliest(ctx, prom, head, 3)
	if err != nil {
		return rep, err
	}

	var paths []string
	for _, svc := range []string{"api-gateway", "workflow-agent", "workflow-engine"} {
		paths = append(paths, filepath.Join(logDir, svc+".log"))
	}
	vol, err := lookup.LogVolume(paths)
	if err != nil {
		return rep, err
	}
	rep.Logs = project(vol.BytesPerSecond(), freeLogsGB, fmt.Sprintf("services' JSON logs (%d files)", len(vol.Files)),
		fmt.Sprintf("%s written between the first and last line, %s apart; Loki receives the same records over OTLP", bytesHuman(float64(vol.Bytes)), vol.Last.Sub(vol.First).Round(time.Second)))

	spans, err := prom.Scalar(ctx, `sum(rate(otelcol_receiver_accepted_spans[5m]))`)
	if err != nil {
		return rep, err
	}
	perSpan, sampled := bytesPerSpan(ctx, jaegerURL)
	rep.Traces = project(spans*perSpan, freeTracesGB, "spans accepted by the collector",
		fmt.Sprintf("%.2f spans/s × %.0f B per span (Jaeger's JSON of %d recent gateway traces; OTLP is smaller, so this errs high)", spans, perSpan, sampled))

	for _, v := range []struct {
		what  string
		share float64
	}{{"active series", rep.Series.Share}, {"logs", rep.Logs.Share}, {"traces", rep.Traces.Share}} {
		switch {
		case v.share >= 1:
			rep.Over = append(rep.Over, fmt.Sprintf("%s at %.0f%% of the free tier", v.what, v.share*100))
		case v.share >= warnShare:
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s at %.0f%% of the free tier", v.what, v.share*100))
		}
	}
	return rep, nil
}

func project(bytesPerSecond, limitGB float64, source, explanation string) volumeUsage {
	gb := bytesPerSecond * month.Seconds() / 1e9
	return volumeUsage{Source: source, PerSecond: bytesPerSecond, MonthGB: gb, LimitGB: limitGB, Share: gb / limitGB, Explanation: explanation}
}

// costliest names the n metrics with the most series and, for each, the cut
// that saves most: the label with the most values that is not one every
// series must keep (for a histogram's buckets that is le: fewer buckets).
func costliest(ctx context.Context, prom lookup.Prometheus, head lookup.HeadStatus, n int) ([]metricCost, error) {
	names := make([]string, 0, len(head.SeriesByName))
	for name := range head.SeriesByName {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		if head.SeriesByName[names[i]] != head.SeriesByName[names[j]] {
			return head.SeriesByName[names[i]] > head.SeriesByName[names[j]]
		}
		return names[i] < names[j]
	})
	var out []metricCost
	for _, name := range names[:min(n, len(names))] {
		c := metricCost{Metric: name, Series: head.SeriesByName[name], Share: float64(head.SeriesByName[name]) / float64(max(1, head.Series))}
		labels, err := prom.LabelNames(ctx, name)
		if err != nil {
			return nil, err
		}
		best, bestValues := "", 0
		for _, l := range labels {
			if keptLabels[l] {
				continue
			}
			v, err := prom.Scalar(ctx, fmt.Sprintf("count(count by (%s) (%s))", l, name))
			if err != nil {
				return nil, err
			}
			if int(v) > bestValues {
				best, bestValues = l, int(v)
			}
		}
		switch {
		case best == "":
			c.Cut = "only kept labels: fewer services or instances"
		case best == "le":
			c.Cut = fmt.Sprintf("thin the histogram: %d bucket bounds (le); fewer boundaries in telemetry.MetricViews", bestValues)
		default:
			c.Cut = fmt.Sprintf("drop or aggregate the label %s (%d values)", best, bestValues)
		}
		out = append(out, c)
	}
	return out, nil
}

// bytesPerSpan measures the size of a span from recent gateway traces in
// Jaeger; without any, it falls back to 1 KB.
func bytesPerSpan(ctx context.Context, jaegerURL string) (float64, int) {
	const fallback = 1024
	u := strings.TrimRight(jaegerURL, "/") + "/api/traces?service=api-gateway&limit=20&lookback=1h&operation=" + url.QueryEscape("POST /api/v1/workflows")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fallback, 0
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fallback, 0
	}
	defer resp.Body.Close()
	var doc struct {
		Data []struct {
			Spans []json.RawMessage `json:"spans"`
		} `json:"data"`
	}
	if json.NewDecoder(resp.Body).Decode(&doc) != nil {
		return fallback, 0
	}
	var total, count int
	for _, d := range doc.Data {
		for _, s := range d.Spans {
			total += len(s)
			count++
		}
	}
	if count == 0 {
		return fallback, 0
	}
	return float64(total) / float64(count), len(doc.Data)
}

func renderUsage(w io.Writer, rep usageReport, c palette) {
	share := func(s float64) string {
		text := fmt.Sprintf("%5.1f%%", s*100)
		switch {
		case s >= 1:
			return c.red + text + " OVER" + c.reset
		case s >= warnShare:
			return c.yellow + text + " near the limit" + c.reset
		}
		return text
	}
	fmt.Fprintf(w, "%sUsage projected to a month at the current rate, against Grafana Cloud's free tier%s\n\n", c.bold, c.reset)
	fmt.Fprintf(w, "  %-16s %14s  %14s  %s\n", "", "now", "free tier", "used")
	fmt.Fprintf(w, "  %-16s %14d  %14d  %s\n", "active series", rep.Series.Active, rep.Series.Limit, share(rep.Series.Share))
	fmt.Fprintf(w, "  %-16s %11.2f GB  %11.0f GB  %s   (%s/s)\n", "logs / month", rep.Logs.MonthGB, rep.Logs.LimitGB, share(rep.Logs.Share), bytesHuman(rep.Logs.PerSecond))
	fmt.Fprintf(w, "  %-16s %11.2f GB  %11.0f GB  %s   (%s/s)\n", "traces / month", rep.Traces.MonthGB, rep.Traces.LimitGB, share(rep.Traces.Share), bytesHuman(rep.Traces.PerSecond))
	fmt.Fprintf(w, "  %-16s %14.1f\n", "samples / s", rep.Samples)
	fmt.Fprintf(w, "  %-16s %s\n\n", "retention", rep.Retention)

	svcs := make([]string, 0, len(rep.Series.ByService))
	for s := range rep.Series.ByService {
		svcs = append(svcs, s)
	}
	sort.Slice(svcs, func(i, j int) bool {
		if a, b := rep.Series.ByService[svcs[i]], rep.Series.ByService[svcs[j]]; a != b {
			return a > b
		}
		return svcs[i] < svcs[j]
	})
	fmt.Fprintf(w, "Series by service (with a sample in the last 5 minutes)\n")
	const shown = 10
	for _, s := range svcs[:min(shown, len(svcs))] {
		fmt.Fprintf(w, "  %-40s %6d\n", s, rep.Series.ByService[s])
	}
	if len(svcs) > shown {
		rest := 0
		for _, s := range svcs[shown:] {
			rest += rep.Series.ByService[s]
		}
		fmt.Fprintf(w, "  %-40s %6d\n", fmt.Sprintf("… %d more services", len(svcs)-shown), rest)
	}
	fmt.Fprintf(w, "\nThe metrics that cost the most\n")
	for _, m := range rep.Costliest {
		fmt.Fprintf(w, "  %-36s %6d series (%4.1f%%)  cut: %s\n", m.Metric, m.Series, m.Share*100, m.Cut)
	}
	fmt.Fprintf(w, "\n%sLogs: %s. Traces: %s.%s\n", c.dim, rep.Logs.Explanation, rep.Traces.Explanation, c.reset)
	for _, s := range rep.Warnings {
		fmt.Fprintf(w, "%swarning: %s%s\n", c.yellow, s, c.reset)
	}
	for _, s := range rep.Over {
		fmt.Fprintf(w, "%sover: %s — the paid steps: %s%s\n", c.red, s, strings.Join(rep.PaidSteps, "; "), c.reset)
	}
}

func bytesHuman(b float64) string {
	for _, u := range []string{"B", "KB", "MB", "GB"} {
		if b < 1000 {
			return fmt.Sprintf("%.1f %s", b, u)
		}
		b /= 1000
	}
	return fmt.Sprintf("%.1f TB", b)
}
