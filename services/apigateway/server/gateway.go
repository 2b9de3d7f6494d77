package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/starmates-ai/ai-teams/internal/serve"
	"github.com/starmates-ai/ai-teams/services/apigateway"
	"github.com/starmates-ai/ai-teams/services/workflowagent"
	"github.com/starmates-ai/ai-teams/services/workflowengine"
	"github.com/starmates-ai/ai-teams/telemetry"
)

// Config is what the gateway is built from besides its telemetry.
type Config struct {
	// APIKeys is the API_KEYS list: "client:key[:segment],...".
	APIKeys string
	// DatabaseURL selects PostgreSQL; empty means SQLite in DataDir.
	DatabaseURL string
	DataDir     string
	AgentURL    string
	EngineURL   string
	// DownstreamTimeout bounds the calls to the agent and the engine of one
	// request, together; past it the gateway answers 504.
	DownstreamTimeout time.Duration
	// MaxInFlight bounds the requests served at once; the excess is shed
	// with 503 and Retry-After. 0 means no bound.
	MaxInFlight int

	// envErr is ConfigFromEnv's complaint about a malformed variable; Open
	// returns it, so a typo stops start-up instead of meaning a default.
	envErr error
}

// Defaults of DOWNSTREAM_TIMEOUT and MAX_IN_FLIGHT.
const (
	// DefaultDownstreamTimeout leaves room for a remote LLM's plan (tens of
	// seconds) and stays under the server's 60 s write timeout.
	DefaultDownstreamTimeout = 30 * time.Second
	// DefaultMaxInFlight fits two cores: at twice the capacity of the demo
	// stack (about 430 workflows/s), 64 keeps the accepted requests' p99 at
	// 0.63 s where 256 let it grow to 1.95 s (bench/RESULTS.md); past it a
	// queue only adds latency.
	DefaultMaxInFlight = 64
)

// ConfigFromEnv reads API_KEYS, DATABASE_URL, DATA_DIR (default ./data),
// WORKFLOW_AGENT_URL and WORKFLOW_ENGINE_URL (default the local ports),
// DOWNSTREAM_TIMEOUT and MAX_IN_FLIGHT.
func ConfigFromEnv() Config {
	cfg := Config{
		APIKeys:           serve.Env("API_KEYS", ""),
		DatabaseURL:       serve.Env("DATABASE_URL", ""),
		DataDir:           serve.Env("DATA_DIR", "./data"),
		AgentURL:          serve.Env("WORKFLOW_AGENT_URL", "http://127.0.0.1:8081"),
		EngineURL:         serve.Env("WORKFLOW_ENGINE_URL", "http://127.0.0.1:8082"),
		DownstreamTimeout: DefaultDownstreamTimeout,
		MaxInFlight:       DefaultMaxInFlight,
	}
	if raw := serve.Env("DOWNSTREAM_TIMEOUT", ""); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d <= 0 {
			cfg.envErr = errors.Join(cfg.envErr, fmt.Errorf("DOWNSTREAM_TIMEOUT=%q: want a positive duration such as 30s", raw))
		}
		cfg.DownstreamTimeout = d
	}
	if raw := serve.Env("MAX_IN_FLIGHT", ""); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			cfg.envErr = errors.Join(cfg.envErr, fmt.Errorf("MAX_IN_FLIGHT=%q: want a number of requests, 0 for no bound", raw))
		}
		cfg.MaxInFlight = n
	}
	return cfg
}

// Gateway is the gateway as it serves: its store, open until Close, and its
// routes behind the telemetry middleware.
type Gateway struct {
	Handler http.Handler
	Store   *Store
}

// Open builds the gateway the way cmd/api-gateway serves it, and the e2e
// slice tests it: keys, store, downstream clients that carry the trace, and
// the middleware that continues the traces of authenticated callers only.
func Open(ctx context.Context, cfg Config, tel *telemetry.Telemetry) (*Gateway, error) {
	if cfg.envErr != nil {
		return nil, cfg.envErr
	}
	if cfg.DownstreamTimeout <= 0 {
		cfg.DownstreamTimeout = DefaultDownstreamTimeout
	}
	keys, err := ParseAPIKeys(cfg.APIKeys)
	if err != nil {
		return nil, err
	}
	if keys.Len() == 0 {
		tel.Logger.Warn("API_KEYS is empty: every /api request will be refused with 401")
	}
	store, err := OpenStore(ctx, cfg.DataDir, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	hc := telemetry.HTTPClient(cfg.DownstreamTimeout, telemetry.WithTracerProvider(tel.TracerProvider), telemetry.WithPropagators(tel.Propagator))
	srv := New(store, keys, workflowagent.NewClient(cfg.AgentURL, hc), workflowengine.NewClient(cfg.EngineURL, hc), tel.Logger, tel.Metrics)
	srv.downstreamTimeout = cfg.DownstreamTimeout
	return &Gateway{
		Handler: tel.Middleware(
			telemetry.WithTrustedCaller(keys.Trusted),
			telemetry.WithMaxInFlight(cfg.MaxInFlight, apigateway.HealthPath),
		)(srv.Routes()),
		Store: store,
	}, nil
}

// Close closes the store.
func (g *Gateway) Close() error { return g.Store.Close() }
