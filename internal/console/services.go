package console

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/starmates-ai/ai-teams/internal/lookup"
)

// The health page's window and resolution.
const (
	healthWindow = 15 * time.Minute
	healthStep   = 15 * time.Second
	exemplarDots = 40 // per chart, the most recent
)

// The health page's queries, per service; the same expressions as the RED
// and AI dashboards in monitoring/dashboards.
const (
	qRate     = `sum by (service) (rate(request_count[1m]))`
	qErrRatio = `(sum by (service) (rate(request_count{status_code=~"5.."}[1m])) or 0 * sum by (service) (rate(request_count[1m]))) / sum by (service) (rate(request_count[1m]))`
	qP95      = `histogram_quantile(0.95, sum by (service, le) (rate(request_duration_seconds_bucket[1m])))`
	qRequests = `sum by (service) (increase(request_count[15m]))`
	qTokens   = `sum by (service) (increase(ai_tokens_total[15m]))`
	qCost     = `sum by (service) (increase(ai_cost_total[15m]))`
	qLatency  = `request_duration_seconds_bucket`
)

type serviceHealth struct {
	Name      string
	Requests  float64 // in the window
	Rate      template.HTML
	Errors    template.HTML
	P95       template.HTML
	Now       [3]string // the latest rate, error share and p95
	Tokens    float64
	Cost      float64
	HasAI     bool
	Slowest   []exemplarLink
	Exemplars int
}

type exemplarLink struct {
	TraceID  string
	Duration time.Duration
	Time     time.Time
}

type servicesView struct {
	page
	Window   time.Duration
	Services []serviceHealth
}

func (s *Server) servicesPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := backendContext(r)
	defer cancel()
	v := servicesView{page: s.basePage("Service health", "services"), Window: healthWindow}
	end := s.cfg.Now()
	start := end.Add(-healthWindow)
	p := s.cfg.Prometheus

	ranges := map[string]map[string][]lookup.Point{}
	for _, q := range []string{qRate, qErrRatio, qP95} {
		series, err := p.QueryRange(ctx, q, start, end, healthStep)
		if err != nil {
			v.Problems = append(v.Problems, s.unreachable("Prometheus", err))
			s.render(w, r, http.StatusBadGateway, "services", v)
			return
		}
		ranges[q] = byService(series)
	}
	totals := map[string]map[string]float64{}
	for _, q := range []string{qRequests, qTokens, qCost} {
		samples, err := p.Query(ctx, q)
		if err != nil {
			v.Problems = append(v.Problems, s.unreachable("Prometheus", err))
			s.render(w, r, http.StatusBadGateway, "services", v)
			return
		}
		totals[q] = map[string]float64{}
		for _, smp := range samples {
			totals[q][smp.Labels["service"]] = smp.Value
		}
	}
	exemplars, err := p.Exemplars(ctx, qLatency, start, end)
	if err != nil {
		v.Problems = append(v.Problems, problem{Source: "Prometheus", Message: err.Error(), Fix: "The charts show no exemplar points."})
	}
	byServiceEx := map[string][]lookup.Exemplar{}
	for _, e := range exemplars {
		if e.TraceID != "" {
			svc := e.Series["service"]
			byServiceEx[svc] = append(byServiceEx[svc], e)
		}
	}

	names := map[string]bool{}
	for _, m := range ranges {
		for svc := range m {
			names[svc] = true
		}
	}
	for svc := range totals[qRequests] {
		names[svc] = true
	}
	for svc := range names {
		if svc == "" {
			continue
		}
		h := serviceHealth{Name: svc, Requests: totals[qRequests][svc], Tokens: totals[qTokens][svc], Cost: totals[qCost][svc]}
		_, h.HasAI = totals[qTokens][svc]
		ex := byServiceEx[svc]
		h.Exemplars = len(ex)
		var marks []chartMark
		for _, e := range ex[max(0, len(ex)-exemplarDots):] {
			marks = append(marks, chartMark{At: e.Time, Value: e.Value, Href: "/requests/" + e.TraceID,
				Title: fmt.Sprintf("request %s took %s at %s", e.TraceID, human(seconds(e.Value)), e.Time.UTC().Format("15:04:05"))})
		}
		h.Slowest = slowest(ex, 3)
		h.Now = [3]string{latestValue(ranges[qRate][svc], perSecond), latestValue(ranges[qErrRatio][svc], percent), latestValue(ranges[qP95][svc], latencyText)}
		h.Rate = sparkline(svc+" requests per second", ranges[qRate][svc], start, end, healthStep, perSecond, nil)
		h.Errors = sparkline(svc+" share of 5xx responses", ranges[qErrRatio][svc], start, end, healthStep, percent, nil)
		h.P95 = sparkline(svc+" p95 latency", ranges[qP95][svc], start, end, healthStep, latencyText, marks)
		v.Services = append(v.Services, h)
	}
	sort.Slice(v.Services, func(i, j int) bool { return v.Services[i].Name < v.Services[j].Name })
	if len(v.Services) == 0 {
		v.Problems = append(v.Problems, problem{Source: "Prometheus", Message: fmt.Sprintf("no service has request metrics in the last %s", healthWindow),
			Fix: "Send a request through the gateway; metrics reach Prometheus within about 15 seconds."})
	}
	s.render(w, r, http.StatusOK, "services", v)
}

func byService(series []lookup.Series) map[string][]lookup.Point {
	out := map[string][]lookup.Point{}
	for _, s := range series {
		out[s.Labels["service"]] = s.Points
	}
	return out
}

// slowest picks the n slowest exemplars, one per trace.
func slowest(ex []lookup.Exemplar, n int) []exemplarLink {
	sorted := append([]lookup.Exemplar(nil), ex...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Value > sorted[j].Value })
	var out []exemplarLink
	seen := map[string]bool{}
	for _, e := range sorted {
		if len(out) == n {
			break
		}
		if !seen[e.TraceID] {
			seen[e.TraceID] = true
			out = append(out, exemplarLink{TraceID: e.TraceID, Duration: seconds(e.Value), Time: e.Time})
		}
	}
	return out
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func latencyText(f float64) string { return human(seconds(f)) }

func perSecond(f float64) string { return strconv.FormatFloat(round3(f), 'f', -1, 64) + "/s" }

func percent(f float64) string { return strconv.FormatFloat(round3(f*100), 'f', -1, 64) + "%" }

func round3(f float64) float64 {
	if f == 0 || math.IsNaN(f) {
		return f
	}
	digits := 3 - int(math.Ceil(math.Log10(math.Abs(f))))
	p := math.Pow(10, float64(max(digits, 0)))
	return math.Round(f*p) / p
}
