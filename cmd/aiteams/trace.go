package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/starmates-ai/ai-teams/internal/lookup"
)

// errHelp ends a command after it printed its --help.
var errHelp = errors.New("help shown")

// traceReport is everything aiteams trace found, and where it looked.
type traceReport struct {
	TrackingID string           `json:"tracking_id"`
	Trace      *lookup.Trace    `json:"trace"`
	Logs       []lookup.LogLine `json:"logs"`
	Rows       []lookup.Row     `json:"rows"`
	Looked     []lookedAt       `json:"looked"`
	Waited     string           `json:"waited"`
}

type lookedAt struct {
	Source string `json:"source"` // jaeger, logs, database
	Where  string `json:"where"`
	Found  int    `json:"found"`
	Unit   string `json:"unit"` // what Found counts
	Error  string `json:"error,omitempty"`
}

func runTrace(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("aiteams trace", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := requestSourceFlags(fs)
	jaegerURL, logs, dataDir, databaseURL := src.jaeger, src.logs, src.dataDir, src.databaseURL
	wait := fs.Duration("wait", 0, "keep looking this long for a trace that is not in Jaeger yet (e.g. 30s)")
	asJSON := fs.Bool("json", false, "print one JSON document instead of the waterfall")
	consoleURL := fs.String("console", envOr("AITEAMS_CONSOLE_URL", "http://127.0.0.1:16680"), "the console's address, for the link to the request's page (env AITEAMS_CONSOLE_URL)")
	if err := parseCommand(fs, args, stdout, "aiteams trace [flags] <tracking_id>",
		"Shows one request: its spans across services as a waterfall, each log line under\n"+
			"its span at its time, error events, then the database rows that carry the id.\n"+
			"The id may also be a traceparent value or a URL that contains it.", 1); err != nil {
		return err
	}
	id, err := lookup.ParseTrackingID(fs.Arg(0))
	if err != nil {
		return &exitError{code: 2, err: err}
	}

	ctx := context.Background()
	rep := traceReport{TrackingID: id}
	spin := newSpinner(stderr, "looking for "+id+" in Jaeger")
	start := time.Now()
	trace, jerr := waitForTrace(ctx, lookup.Jaeger{BaseURL: *jaegerURL}, id, *wait, spin)
	spin.stop()
	rep.Waited = time.Since(start).Round(100 * time.Millisecond).String()
	rep.Trace = trace
	j := lookedAt{Source: "jaeger", Where: strings.TrimRight(*jaegerURL, "/") + "/api/traces/" + id, Unit: "spans"}
	if trace != nil {
		j.Found = len(trace.Spans)
	}
	if jerr != nil && !errors.Is(jerr, lookup.ErrNotFound) {
		j.Error = jerr.Error()
	}
	rep.Looked = append(rep.Looked, j)

	patterns := strings.Split(*logs, ",")
	lines, files, lerr := lookup.SearchLogs(patterns, id)
	rep.Logs = lines
	l := lookedAt{Source: "logs", Where: fmt.Sprintf("%s (%d files)", *logs, len(files)), Found: len(lines), Unit: "lines"}
	if lerr != nil {
		l.Error = lerr.Error()
	}
	rep.Looked = append(rep.Looked, l)

	d := lookedAt{Source: "database", Unit: "rows"}
	if db, err := lookup.OpenDB(ctx, *dataDir, *databaseURL); err != nil {
		d.Where, d.Error = filepath.Join(*dataDir, "ai-teams.db"), err.Error()
		if *databaseURL != "" {
			d.Where = "DATABASE_URL"
		}
	} else {
		d.Where = db.Where
		rep.Rows, err = db.Rows(ctx, id)
		if err != nil {
			d.Error = err.Error()
		}
		d.Found = len(rep.Rows)
		db.Close()
	}
	rep.Looked = append(rep.Looked, d)

	if *asJSON {
		if err := printJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		renderReport(stdout, rep, colorsFor(stdout))
		if *consoleURL != "" {
			fmt.Fprintf(stdout, "In the console: %s/requests/%s\n", strings.TrimRight(*consoleURL, "/"), id)
		}
	}

	switch {
	case j.Error != "":
		return &exitError{code: 2, err: fmt.Errorf("Jaeger unreachable: %s", j.Error)}
	case trace == nil && len(lines) == 0 && len(rep.Rows) == 0:
		return &exitError{code: 1, err: fmt.Errorf("tracking id %s not found after %s: %s", id, rep.Waited, lookedSummary(rep.Looked))}
	}
	return nil
}

// waitForTrace asks Jaeger until the trace is there or wait has passed.
func waitForTrace(ctx context.Context, j lookup.Jaeger, id string, wait time.Duration, spin *spinner) (*lookup.Trace, error) {
	deadline := time.Now().Add(wait)
	for {
		t, err := j.Trace(ctx, id)
		if err == nil || !errors.Is(err, lookup.ErrNotFound) || time.Now().After(deadline) {
			return t, err
		}
		spin.tick()
		time.Sleep(250 * time.Millisecond)
	}
}

func lookedSummary(looked []lookedAt) string {
	var parts []string
	for _, l := range looked {
		s := fmt.Sprintf("%s %s: %d %s", l.Source, l.Where, l.Found, l.Unit)
		if l.Error != "" {
			s += " (" + l.Error + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// requestSources are where aiteams finds what one request left: its trace,
// its log lines and its rows.
type requestSources struct{ jaeger, logs, dataDir, databaseURL *string }

func requestSourceFlags(fs *flag.FlagSet) requestSources {
	return requestSources{
		jaeger:      fs.String("jaeger", envOr("JAEGER_URL", "http://127.0.0.1:16686"), "Jaeger query API base URL (env JAEGER_URL)"),
		logs:        fs.String("logs", envOr("AITEAMS_LOGS", ".run/logs/*.log"), "glob of the services' JSON log files, comma-separated for several (env AITEAMS_LOGS)"),
		dataDir:     fs.String("data-dir", envOr("DATA_DIR", ".run/data"), "folder of the gateway's SQLite database (env DATA_DIR)"),
		databaseURL: fs.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL; wins over -data-dir (env DATABASE_URL)"),
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
