// Package propagator compares one extract and one inject through
// telemetry.W3CTraceContext with propagation.TraceContext, for a valid
// traceparent with and without a five-member tracestate.
// Run: cd bench && GOWORK=off go test -run XXX -bench . -benchmem -count 6 ./propagator/
package propagator

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/starmates-ai/ai-teams/telemetry"
)

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func BenchmarkExtractInject(b *testing.B) {
	for _, in := range []struct {
		name   string
		header http.Header
	}{
		{"tracestate=5", http.Header{
			"Traceparent": {traceparent},
			"Tracestate":  {"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,foo=bar,vendor@tenant=x1,k=v"},
		}},
		{"tracestate=none", http.Header{"Traceparent": {traceparent}}},
	} {
		for _, p := range []struct {
			name string
			prop propagation.TextMapPropagator
		}{
			{"otel", propagation.TraceContext{}},
			{"ours", telemetry.W3CTraceContext{}},
		} {
			b.Run(in.name+"/"+p.name, func(b *testing.B) {
				out := http.Header{}
				b.ReportAllocs()
				for b.Loop() {
					ctx := p.prop.Extract(context.Background(), propagation.HeaderCarrier(in.header))
					clear(out)
					p.prop.Inject(ctx, propagation.HeaderCarrier(out))
				}
				if sc := trace.SpanContextFromContext(p.prop.Extract(context.Background(), propagation.HeaderCarrier(in.header))); !sc.IsValid() {
					b.Fatal("nothing extracted")
				}
			})
		}
	}
}
