// Package serve runs a service's HTTP server until SIGINT/SIGTERM and then
// shuts it and its telemetry down in order.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/starmates-ai/ai-teams/telemetry"
)

// Version is stamped at build time with -ldflags "-X .../internal/serve.Version=...".
var Version = "dev"

// Env returns the variable's value or def.
func Env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// NewServer returns an http.Server with the timeouts and header limit every
// service uses. MaxHeaderBytes sits above the middleware's JSON 431 limit so
// that oversized headers get our error body, not net/http's plain text.
func NewServer(addr string, h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    4 * telemetry.DefaultMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// Run listens on srv.Addr and serves until ctx ends or a signal arrives,
// then drains requests and flushes telemetry.
func Run(ctx context.Context, srv *http.Server, tel *telemetry.Telemetry) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := tel.Logger

	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w (is the port already taken?)", srv.Addr, err)
	}
	log.Info("listening",
		slog.String("addr", ln.Addr().String()),
		slog.String("environment", tel.Config.Environment),
		slog.String("version", tel.Config.ServiceVersion),
		slog.String("otlp_endpoint", tel.Config.OTLPEndpoint))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	// A flush to a collector that is down would retry until the deadline;
	// five seconds is enough for a reachable one.
	tctx, tcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer tcancel()
	if terr := tel.Shutdown(tctx); terr != nil && !errors.Is(terr, context.DeadlineExceeded) {
		log.Warn("telemetry flush incomplete", slog.String("otel_error", terr.Error()))
	}
	return err
}

// Fatal prints err as one JSON-free line on stderr and exits 1. It is for
// start-up errors, before or instead of a logger.
func Fatal(service string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
	os.Exit(1)
}
