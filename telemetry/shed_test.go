package telemetry

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// With at most 2 requests in flight and two held in the handler, the third
// is answered 503 at once, with Retry-After and the JSON error body, and is
// still counted, traced and logged; the health path is never shed, and once
// the held requests finish, requests pass again.
func TestMaxInFlightShedsTheExcess(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithView(MetricViews()...))
	m, err := NewMetrics(mp, "svc")
	if err != nil {
		t.Fatal(err)
	}
	spans := tracetest.NewSpanRecorder()
	logs := &syncBuffer{}
	arrived := make(chan struct{}, 2)
	release := make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(free)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hold") != "" {
			arrived <- struct{}{}
			<-release
		}
	})
	mux.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})
	h := NewMiddleware(WithMetrics(m), WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))),
		WithLogger(newTestLogger(logs)), WithMaxInFlight(2, "/healthz"))(mux)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: 10 * time.Second} // a held third request fails instead of hanging

	held := make(chan int, 2)
	for range 2 {
		go func() {
			resp, err := client.Get(srv.URL + "/work?hold=1")
			if err != nil {
				t.Error(err)
				held <- 0
				return
			}
			resp.Body.Close()
			held <- resp.StatusCode
		}()
	}
	for range 2 {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the two held requests did not reach the handler")
		}
	}

	start := time.Now()
	resp, err := client.Get(srv.URL + "/work")
	if err != nil {
		t.Fatalf("third request not answered while two are held: %v", err)
	}
	t.Logf("shed in %v", time.Since(start))
	var eb ErrorBody
	_ = json.NewDecoder(resp.Body).Decode(&eb)
	resp.Body.Close()
	tid := resp.Header.Get(HeaderTrackingID)
	if resp.StatusCode != http.StatusServiceUnavailable || eb.Error.Code != "overloaded" || tid == "" || eb.TrackingID != tid {
		t.Errorf("third request: %d %+v, want 503 overloaded with tracking_id %q", resp.StatusCode, eb, tid)
	}
	if got := resp.Header.Get("Retry-After"); got != ShedRetryAfter {
		t.Errorf("Retry-After %q, want %q", got, ShedRetryAfter)
	}
	if status := getStatus(t, client, srv.URL+"/healthz"); status != http.StatusOK {
		t.Errorf("/healthz answered %d at the limit; health probes are never shed", status)
	}

	free()
	for range 2 {
		if s := <-held; s != http.StatusOK {
			t.Errorf("held request answered %d, want 200", s)
		}
	}
	if status := getStatus(t, client, srv.URL+"/work"); status != http.StatusOK {
		t.Errorf("after the held requests finished: %d, want 200 (the slots were not given back)", status)
	}

	if n := shedCount(t, reader); n != 1 {
		t.Errorf("request_count{endpoint=/work,status_code=503} = %d, want 1", n)
	}
	var shedSpan, shedLine bool
	for _, sp := range spans.Ended() {
		shedSpan = shedSpan || (sp.SpanContext().TraceID().String() == tid && attr(sp, "http.response.status_code") == "503")
	}
	for _, l := range logs.lines(t) {
		shedLine = shedLine || (l["tracking_id"] == tid && l["level"] == "ERROR")
	}
	if !shedSpan || !shedLine {
		t.Errorf("shed request: server span with 503 %v, ERROR access line %v; want both", shedSpan, shedLine)
	}
}

func getStatus(t *testing.T, client *http.Client, url string) int {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// shedCount reads request_count for GET /work answered 503.
func shedCount(t *testing.T, reader *sdkmetric.ManualReader) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			sum, ok := md.Data.(metricdata.Sum[int64])
			if md.Name != MetricRequestCount || !ok {
				continue
			}
			for _, p := range sum.DataPoints {
				code, _ := p.Attributes.Value("status_code")
				endpoint, _ := p.Attributes.Value("endpoint")
				if code.AsString() == "503" && endpoint.AsString() == "/work" {
					n += p.Value
				}
			}
		}
	}
	return n
}
