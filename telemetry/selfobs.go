package telemetry

// How a service's telemetry rides out a collector outage, and how it says
// what it lost.
//
// Budget: a collector outage of up to OutageBudget at peak traffic loses
// nothing, and export resumes within ResumeWithin of the collector's return,
// without restarting the service. Peak is about 250 workflows/s × ~4 spans per
// service ≈ 1000 spans/s per service, so the span and the log batch
// processors each hold QueueSize = 30 000 items in memory (the SDK defaults,
// 2048, last 2 s). Beyond that the processors drop, and every drop is counted
// by the SDK's own metrics (below).
//
// Memory (TestQueueMemory measures it): a queued HTTP server span with its
// usual attributes costs about 1.3 KiB, a full span queue about 39 MiB. The
// log queue's 30 000 slots are allocated up front by the SDK (a ring of
// records, about 650 B each, ≈ 19 MiB from the start); full, with the
// records' attributes, about 22 MiB. Worst case ≈ 60 MiB per service, of a
// 1 GiB task (infra/variables.tf).
//
// Self-observability is the OTel Go SDK's own (OTEL_GO_X_OBSERVABILITY, v1.47):
// the batch processors and the OTLP exporters record, on the global
// MeterProvider (the service's, with its resource: environment, project,
// service), among others
//
//	otel.sdk.processor.span.processed      {error.type="queue_full"}: spans dropped, queue full
//	otel.sdk.processor.log.processed       {error.type="queue_full"}: log records dropped
//	otel.sdk.exporter.span.exported        {error.type=...}: spans the exporter gave up on
//	otel.sdk.exporter.log.exported         {error.type=...}: log records likewise
//	otel.sdk.exporter.metric_data_point.exported {error.type=...}: metric points likewise
//	otel.sdk.processor.{span,log}.queue.size / .capacity: queue fill
//
// In Prometheus the dots become underscores (otel_sdk_processor_span_processed,
// label error_type). The alert TelemetryDropped and the "Telemetry dropped by
// the SDK" panel of the RED dashboard read them.

import (
	"os"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

const (
	// OutageBudget is the collector outage, at peak traffic, that loses no
	// telemetry.
	OutageBudget = 30 * time.Second
	// ResumeWithin bounds the time from the collector's return to the first
	// successful export.
	ResumeWithin = 5 * time.Second
	// QueueSize is each batch processor's queue: OutageBudget of the peak
	// (1000 items/s per service).
	QueueSize = 30000

	// retryMaxElapsed: the batch in flight when the collector went away is
	// retried across the whole outage and the resume window, so the first
	// batch is not the one that is lost.
	retryMaxElapsed = OutageBudget + ResumeWithin + 5*time.Second
	// exportTimeout and processorTimeout nest around the retries: the
	// exporter's timeout bounds the whole retry loop (default 10 s) and the
	// processor's bounds the exporter call (default 30 s).
	exportTimeout    = retryMaxElapsed + 5*time.Second
	processorTimeout = exportTimeout + 5*time.Second
	// retryMaxInterval: a returning collector waits at most this (+50 %
	// jitter) for the next attempt, within ResumeWithin.
	retryMaxInterval = 2 * time.Second
)

// observabilityEnv is the SDK's switch for its own metrics.
const observabilityEnv = "OTEL_GO_X_OBSERVABILITY"

// enableSDKObservability turns on the SDK's own metrics unless the
// environment decides. The SDK reads the variable when a processor or
// exporter is created, so this runs before Setup creates any.
func enableSDKObservability() {
	if _, set := os.LookupEnv(observabilityEnv); !set {
		_ = os.Setenv(observabilityEnv, "true")
	}
}

// reconnect caps gRPC's delay between connection attempts at 2 s (its default
// grows to 120 s, which would keep a returning collector unused for minutes).
// A refused attempt to a down collector costs next to nothing.
func reconnect() grpc.DialOption {
	return grpc.WithConnectParams(grpc.ConnectParams{
		Backoff: backoff.Config{
			BaseDelay:  250 * time.Millisecond,
			Multiplier: 1.6,
			Jitter:     0.2,
			MaxDelay:   2 * time.Second,
		},
		MinConnectTimeout: 5 * time.Second,
	})
}

// envUnset reports whether none of the variables is set: an operator's
// OTEL_* setting wins over the budget's defaults.
func envUnset(keys ...string) bool {
	for _, k := range keys {
		if os.Getenv(k) != "" {
			return false
		}
	}
	return true
}

// retryPolicy is the exporters' retry for the budget. The three exporter
// modules each define their own RetryConfig, all of this shape.
func retryPolicy[R ~struct {
	Enabled         bool
	InitialInterval time.Duration
	MaxInterval     time.Duration
	MaxElapsedTime  time.Duration
}]() R {
	return R{Enabled: true, InitialInterval: 500 * time.Millisecond, MaxInterval: retryMaxInterval, MaxElapsedTime: retryMaxElapsed}
}

// budgetTimeout reports whether the exporter of signal (TRACES, METRICS,
// LOGS) gets exportTimeout: not when an OTEL_EXPORTER_OTLP_*TIMEOUT says
// otherwise.
func budgetTimeout(signal string) bool {
	return envUnset("OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_"+signal+"_TIMEOUT")
}

func traceResilience() []otlptracegrpc.Option {
	opts := []otlptracegrpc.Option{otlptracegrpc.WithRetry(retryPolicy[otlptracegrpc.RetryConfig]()), otlptracegrpc.WithDialOption(reconnect())}
	if budgetTimeout("TRACES") {
		opts = append(opts, otlptracegrpc.WithTimeout(exportTimeout))
	}
	return opts
}

func logResilience() []otlploggrpc.Option {
	opts := []otlploggrpc.Option{otlploggrpc.WithRetry(retryPolicy[otlploggrpc.RetryConfig]()), otlploggrpc.WithDialOption(reconnect())}
	if budgetTimeout("LOGS") {
		opts = append(opts, otlploggrpc.WithTimeout(exportTimeout))
	}
	return opts
}

// metricResilience retries like the others, so that an outage within the
// budget is no failed export either (metrics are cumulative: a lost export
// only costs resolution, the next one carries the totals).
func metricResilience() []otlpmetricgrpc.Option {
	opts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithRetry(retryPolicy[otlpmetricgrpc.RetryConfig]()), otlpmetricgrpc.WithDialOption(reconnect())}
	if budgetTimeout("METRICS") {
		opts = append(opts, otlpmetricgrpc.WithTimeout(exportTimeout))
	}
	return opts
}

// metricReader lets the periodic reader wait for those retries (its
// default, 30 s, would cut them).
func metricReader() []sdkmetric.PeriodicReaderOption {
	if envUnset("OTEL_METRIC_EXPORT_TIMEOUT") {
		return []sdkmetric.PeriodicReaderOption{sdkmetric.WithTimeout(processorTimeout)}
	}
	return nil
}

func spanQueue() []sdktrace.BatchSpanProcessorOption {
	return unlessSet("OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_EXPORT_TIMEOUT", sdktrace.WithMaxQueueSize, sdktrace.WithExportTimeout)
}

func logQueue() []sdklog.BatchProcessorOption {
	return unlessSet("OTEL_BLRP_MAX_QUEUE_SIZE", "OTEL_BLRP_EXPORT_TIMEOUT", sdklog.WithMaxQueueSize, sdklog.WithExportTimeout)
}

// unlessSet gives a batch processor our queue size and export timeout,
// each only where its environment variable sets nothing.
func unlessSet[O any](queueEnv, timeoutEnv string, queue func(int) O, timeout func(time.Duration) O) []O {
	var opts []O
	if envUnset(queueEnv) {
		opts = append(opts, queue(QueueSize))
	}
	if envUnset(timeoutEnv) {
		opts = append(opts, timeout(processorTimeout))
	}
	return opts
}

// selfObsViews drops the SDK's self-observability histograms (export and
// collection durations): about 20 series per exporter and service each, and
// the drop counters above are what the alert needs.
func selfObsViews() []sdkmetric.View {
	drop := sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}}
	return []sdkmetric.View{
		sdkmetric.NewView(sdkmetric.Instrument{Name: "otel.sdk.exporter.operation.duration"}, drop),
		sdkmetric.NewView(sdkmetric.Instrument{Name: "otel.sdk.metric_reader.collection.duration"}, drop),
	}
}
