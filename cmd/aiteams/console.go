package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/starmates-ai/ai-teams/internal/console"
	"github.com/starmates-ai/ai-teams/internal/lookup"
)

func runConsole(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("aiteams console", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr("AITEAMS_CONSOLE_ADDR", "127.0.0.1:16680"), "address to serve on (env AITEAMS_CONSOLE_ADDR)")
	src := requestSourceFlags(fs)
	promURL := fs.String("prometheus", envOr("PROMETHEUS_URL", "http://127.0.0.1:9090"), "Prometheus base URL (env PROMETHEUS_URL)")
	if err := parseCommand(fs, args, stdout, "aiteams console [flags]",
		"Serves the console: recent requests with filters, a page per request at\n"+
			"/requests/<tracking_id> (waterfall, span details, log lines, rows) and service\n"+
			"health at /services. It reads Jaeger, Prometheus, the log files and the database;\n"+
			"it changes nothing. Stops on Ctrl-C or SIGTERM.", 0); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := console.New(console.Config{
		Jaeger:      lookup.Jaeger{BaseURL: *src.jaeger},
		Prometheus:  lookup.Prometheus{BaseURL: *promURL},
		LogPatterns: strings.Split(*src.logs, ","),
		DataDir:     *src.dataDir,
		DatabaseURL: *src.databaseURL,
		Logger:      logger,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("console cannot listen: %w", err)}
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "aiteams console listening on %s\n", url)
	logger.Info("listening", "addr", ln.Addr().String(), "url", url)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
