// Command profshare splits a CPU profile's samples into where the cost
// belongs: the service's own work, its database, and each part of the
// telemetry. It reads `go tool pprof -traces BINARY PROFILE` on stdin.
//
// A sample inside an export, a log call or a metric recording (any frame of
// its stack in those packages) belongs to that. Any other sample belongs to
// its innermost frame outside the standard library and runtime: a write(2)
// under SQLite is the database, span creation inside a database call is
// spans. Samples with no such frame are the Go runtime and net/http (GC
// workers, the scheduler, connection handling).
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// part is a named share of the profile and the frame prefixes it owns.
type part struct {
	name     string
	prefixes []string
}

// inside: a sample with any frame under these is that activity's cost.
var inside = []part{
	{"the profiler itself", []string{"runtime/pprof."}},
	{"telemetry: OTLP export (batching, gRPC, protobuf)", []string{
		"go.opentelemetry.io/otel/exporters", "go.opentelemetry.io/proto/otlp", "google.golang.org/grpc", "google.golang.org/protobuf", "golang.org/x/net/http2",
		"go.opentelemetry.io/otel/sdk/trace.(*batchSpanProcessor).processQueue", "go.opentelemetry.io/otel/sdk/log.(*BatchProcessor).poll",
	}},
	{"telemetry: logs (slog handlers, OTLP log bridge, log SDK)", []string{
		"log/slog.", "go.opentelemetry.io/contrib/bridges/otelslog", "go.opentelemetry.io/otel/sdk/log", "go.opentelemetry.io/otel/log",
	}},
	{"telemetry: metrics", []string{"go.opentelemetry.io/otel/sdk/metric", "go.opentelemetry.io/otel/metric"}},
}

// innermost: otherwise the sample belongs to its innermost frame under these.
var innermost = []part{
	{"telemetry: spans (otelhttp, trace SDK, propagation)", []string{
		"go.opentelemetry.io/contrib/instrumentation", "go.opentelemetry.io/otel/sdk", "go.opentelemetry.io/otel/trace",
		"go.opentelemetry.io/otel/propagation", "go.opentelemetry.io/otel/attribute", "go.opentelemetry.io/otel/semconv",
		"go.opentelemetry.io/otel.", "go.opentelemetry.io/otel/internal",
	}},
	{"telemetry: our middleware and HTTP client wrapper", []string{"github.com/starmates-ai/ai-teams/telemetry", "github.com/felixge/httpsnoop"}},
	{"database (SQLite, database/sql)", []string{"modernc.org/", "database/sql"}},
	{"service code", []string{"github.com/starmates-ai/ai-teams/"}},
}

const runtimePart = "Go runtime and net/http (GC, scheduler, connections)"

func main() {
	shares, total, err := split(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profshare:", err)
		os.Exit(1)
	}
	names := make([]string, 0, len(shares))
	for name := range shares {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return shares[names[i]] > shares[names[j]] })
	for _, name := range names {
		fmt.Printf("%6.1f%%  %7s  %s\n", 100*float64(shares[name])/float64(total), shares[name].Round(time.Millisecond), name)
	}
	fmt.Printf("%6.1f%%  %7s  total\n", 100.0, total.Round(time.Millisecond))
}

// split reads pprof's -traces output: blocks separated by "-----+---" lines,
// each starting with the sample's value and then one frame per line, leaf first.
func split(r io.Reader) (map[string]time.Duration, time.Duration, error) {
	shares := map[string]time.Duration{}
	var total time.Duration
	var value time.Duration
	var frames []string
	flush := func() {
		if value > 0 {
			shares[classify(frames)] += value
			total += value
		}
		value, frames = 0, frames[:0]
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			flush()
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) >= 2 && value == 0 && len(frames) == 0 {
			if d, err := parseValue(fields[0]); err == nil {
				value = d
				frames = append(frames, fields[1])
				continue
			}
		}
		if value > 0 {
			frames = append(frames, fields[0])
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, 0, err
	}
	if total == 0 {
		return nil, 0, fmt.Errorf("no samples: want the output of go tool pprof -traces")
	}
	return shares, total, nil
}

// parseValue reads a sample value such as "10ms" or "1.20s".
func parseValue(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Duration(n), nil
	}
	return 0, fmt.Errorf("not a sample value: %q", s)
}

func classify(frames []string) string {
	for _, p := range inside {
		for _, f := range frames {
			if p.owns(f) {
				return p.name
			}
		}
	}
	for _, f := range frames {
		for _, p := range innermost {
			if p.owns(f) {
				return p.name
			}
		}
	}
	return runtimePart
}

func (p part) owns(frame string) bool {
	for _, prefix := range p.prefixes {
		if strings.HasPrefix(frame, prefix) {
			return true
		}
	}
	return false
}
