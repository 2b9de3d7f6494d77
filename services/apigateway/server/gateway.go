package server

import (
	"context"
	"net/http"
	"time"

	"github.com/starmates-ai/ai-teams/internal/serve"
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
}

// ConfigFromEnv reads API_KEYS, DATABASE_URL, DATA_DIR (default ./data),
// WORKFLOW_AGENT_URL and WORKFLOW_ENGINE_URL (default the local ports).
func ConfigFromEnv() Config {
	return Config{
		APIKeys:     serve.Env("API_KEYS", ""),
		DatabaseURL: serve.Env("DATABASE_URL", ""),
		DataDir:     serve.Env("DATA_DIR", "./data"),
		AgentURL:    serve.Env("WORKFLOW_AGENT_URL", "http://127.0.0.1:8081"),
		EngineURL:   serve.Env("WORKFLOW_ENGINE_URL", "http://127.0.0.1:8082"),
	}
}

// downstreamTimeout bounds one call to the agent or the engine; planning
// with a remote LLM can take tens of seconds.
const downstreamTimeout = 60 * time.Second

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
	hc := telemetry.HTTPClient(downstreamTimeout, telemetry.WithTracerProvider(tel.TracerProvider), telemetry.WithPropagators(tel.Propagator))
	srv := New(store, keys, workflowagent.NewClient(cfg.AgentURL, hc), workflowengine.NewClient(cfg.EngineURL, hc), tel.Logger, tel.Metrics)
	return &Gateway{
		Handler: tel.Middleware(telemetry.WithTrustedCaller(keys.Trusted))(srv.Routes()),
		Store:   store,
	}, nil
}

// Close closes the store.
func (g *Gateway) Close() error { return g.Store.Close() }
