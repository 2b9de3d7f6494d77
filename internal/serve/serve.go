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
	"net/http/pprof"
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

// DefaultShutdownTimeout is the whole time from SIGTERM to exit: an
// orchestrator's grace period (ECS and Kubernetes give 30 s) is far longer,
// and a deploy should not wait on a collector that is down.
const DefaultShutdownTimeout = 1500 * time.Millisecond

// Shares of the shutdown budget. The flush keeps at least flushReserve
// however long requests take; flushCap bounds it when a long budget
// (SHUTDOWN_TIMEOUT=25s for slow requests) leaves much more, so that an
// unreachable collector never holds the exit for the whole budget.
const (
	flushReserve = 500 * time.Millisecond
	flushCap     = 1500 * time.Millisecond
	// abortGrace is how long requests still running at the drain deadline
	// get, once their contexts are cancelled, to write their error answer.
	abortGrace = 250 * time.Millisecond
)

// ErrShuttingDown is the cause of a request context that Run cancelled
// because the request outlived the drain deadline; handlers that see it
// (context.Cause) answer 503 so the client retries elsewhere.
var ErrShuttingDown = errors.New("server shutting down")

// ShutdownTimeoutFromEnv reads SHUTDOWN_TIMEOUT (a Go duration), default
// DefaultShutdownTimeout.
func ShutdownTimeoutFromEnv() (time.Duration, error) {
	raw := Env("SHUTDOWN_TIMEOUT", "")
	if raw == "" {
		return DefaultShutdownTimeout, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("SHUTDOWN_TIMEOUT=%q: want a positive duration such as 1.5s", raw)
	}
	return d, nil
}

// Run listens on srv.Addr and serves until ctx ends or a signal arrives,
// then drains requests and flushes telemetry within SHUTDOWN_TIMEOUT.
func Run(ctx context.Context, srv *http.Server, tel *telemetry.Telemetry) error {
	budget, err := ShutdownTimeoutFromEnv()
	if err != nil {
		return err
	}
	return RunWithin(ctx, srv, tel, budget)
}

// RunWithin is Run with the shutdown budget given: from the signal, requests
// may finish until budget minus the flush reserve; those still running are
// cancelled (cause ErrShuttingDown) and get abortGrace to answer; telemetry
// is flushed with what remains, at most flushCap. The process is then done
// within budget, collector or not.
func RunWithin(ctx context.Context, srv *http.Server, tel *telemetry.Telemetry, budget time.Duration) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := tel.Logger

	requests, abortRequests := context.WithCancelCause(context.Background())
	defer abortRequests(nil)
	srv.BaseContext = func(net.Listener) context.Context { return requests }

	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w (is the port already taken?)", srv.Addr, err)
	}
	log.Info("listening",
		slog.String("addr", ln.Addr().String()),
		slog.String("environment", tel.Config.Environment),
		slog.String("version", tel.Config.ServiceVersion),
		slog.String("otlp_endpoint", tel.Config.OTLPEndpoint))

	if addr := Env("PPROF_ADDR", ""); addr != "" {
		closeProfiling, err := serveProfiling(addr, log)
		if err != nil {
			ln.Close()
			return err
		}
		defer closeProfiling()
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	begun := time.Now()
	exitBy := begun.Add(budget)
	drainBy := exitBy.Add(-min(flushReserve, budget/2))
	log.Info("shutting down", slog.Duration("shutdown_timeout", budget))

	err = drain(srv, drainBy, func() {
		log.Warn("requests outlived the drain deadline; cancelling them",
			slog.Duration("drain_timeout", drainBy.Sub(begun)))
		abortRequests(ErrShuttingDown)
	})

	flushBy := time.Now().Add(flushCap)
	if exitBy.Before(flushBy) {
		flushBy = exitBy
	}
	tctx, tcancel := context.WithDeadline(context.Background(), flushBy)
	defer tcancel()
	// Shutdown reports what it could not deliver itself, in one line.
	_ = tel.Shutdown(tctx)
	return err
}

// serveProfiling serves net/http/pprof on addr, a loopback address only:
// profiles show request data and cost CPU to take, so they are for the
// person running the process (PPROF_ADDR, e.g. 127.0.0.1:0), never a port
// a load balancer could route to. The address bound is logged.
func serveProfiling(addr string, log *slog.Logger) (func(), error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("PPROF_ADDR=%q: want host:port, e.g. 127.0.0.1:0: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("PPROF_ADDR=%q: profiles are served on a loopback address only (127.0.0.1:PORT)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("PPROF_ADDR: listening on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("profiling", slog.String("pprof_addr", ln.Addr().String()))
	return func() { _ = srv.Close() }, nil
}

// drain stops accepting and waits for in-flight requests until drainBy;
// past it, abort cancels their contexts and they get abortGrace to answer
// before their connections are closed. Only the last step's failure is an
// error: requests cut off without an answer.
func drain(srv *http.Server, drainBy time.Time, abort func()) error {
	dctx, cancel := context.WithDeadline(context.Background(), drainBy)
	defer cancel()
	if err := srv.Shutdown(dctx); !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	abort()
	gctx, gcancel := context.WithTimeout(context.Background(), abortGrace)
	defer gcancel()
	if err := srv.Shutdown(gctx); !errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return errors.Join(errors.New("requests still running after the drain deadline were cut off"), srv.Close())
}

// Fatal prints err as one JSON-free line on stderr and exits 1. It is for
// start-up errors, before or instead of a logger.
func Fatal(service string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
	os.Exit(1)
}
