package main

import (
	"strings"
	"testing"
	"time"
)

// Frames are leaf first, as pprof -traces prints them.
func TestClassify(t *testing.T) {
	cases := []struct {
		want   string
		frames []string
	}{
		{"database (SQLite, database/sql)", []string{"internal/runtime/syscall/linux.Syscall6", "syscall.Write", "modernc.org/sqlite/lib._walWrite", "database/sql.(*DB).ExecContext", "github.com/starmates-ai/ai-teams/services/apigateway/server.(*Store).CreateRun", "github.com/starmates-ai/ai-teams/telemetry.(*middleware).ServeHTTP", "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp.(*middleware).serveHTTP", "net/http.(*conn).serve"}},
		{"telemetry: logs (slog handlers, OTLP log bridge, log SDK)", []string{"syscall.Write", "os.(*File).Write", "github.com/starmates-ai/ai-teams/telemetry.(*lineOutput).Handle", "log/slog.(*Logger).log", "github.com/starmates-ai/ai-teams/services/apigateway/server.(*Server).createWorkflow", "net/http.(*conn).serve"}},
		{"telemetry: spans (otelhttp, trace SDK, propagation)", []string{"runtime.mallocgc", "go.opentelemetry.io/otel/sdk/trace.(*tracer).Start", "github.com/starmates-ai/ai-teams/telemetry.(*dbConn).ExecContext", "database/sql.(*DB).ExecContext", "github.com/starmates-ai/ai-teams/services/apigateway/server.(*Store).CreateRun"}},
		{"telemetry: OTLP export (batching, gRPC, protobuf)", []string{"google.golang.org/protobuf/internal/impl.(*MessageInfo).marshal", "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc.(*client).UploadTraces", "go.opentelemetry.io/otel/sdk/trace.(*batchSpanProcessor).processQueue"}},
		{"service code", []string{"encoding/json.(*encodeState).marshal", "github.com/starmates-ai/ai-teams/services/apigateway/server.(*Server).createWorkflow", "github.com/starmates-ai/ai-teams/telemetry.(*middleware).ServeHTTP"}},
		{"telemetry: our middleware and HTTP client wrapper", []string{"runtime.mallocgc", "github.com/starmates-ai/ai-teams/telemetry.(*middleware).ServeHTTP", "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp.(*middleware).serveHTTP"}},
		{runtimePart, []string{"runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"}},
		{"the profiler itself", []string{"syscall.pread", "runtime/pprof.elfBuildID", "runtime/pprof.profileWriter"}},
	}
	for _, c := range cases {
		if got := classify(c.frames); got != c.want {
			t.Errorf("%s…: %q, want %q", c.frames[0], got, c.want)
		}
	}
}

func TestSplitReadsPprofTraces(t *testing.T) {
	in := `File: api-gateway
Type: cpu
Duration: 10s, Total samples = 40ms (0.4%)
-----------+-------------------------------------------------------
      10ms   modernc.org/sqlite/lib._sqlite3Step
             database/sql.(*DB).ExecContext
-----------+-------------------------------------------------------
      20ms   runtime.scanobject
             runtime.gcBgMarkWorker
-----------+-------------------------------------------------------
      10ms   log/slog.(*Logger).log
-----------+-------------------------------------------------------
`
	shares, total, err := split(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if total != 40*time.Millisecond || shares["database (SQLite, database/sql)"] != 10*time.Millisecond || shares[runtimePart] != 20*time.Millisecond || len(shares) != 3 {
		t.Errorf("total %s, shares %v", total, shares)
	}
	if _, _, err := split(strings.NewReader("File: x\n")); err == nil {
		t.Error("no samples: want an error")
	}
}
