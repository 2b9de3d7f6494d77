package server

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/starmates-ai/ai-teams/config"
	"github.com/starmates-ai/ai-teams/internal/serve"
	"github.com/starmates-ai/ai-teams/telemetry"
)

// Config is what the agent is built from besides its telemetry.
type Config struct {
	// LLMBaseURL is an OpenAI-compatible endpoint; empty plans with the
	// built-in planner and ignores the other LLM fields.
	LLMBaseURL  string
	LLMAPIKey   string
	LLMModel    string
	LLMProvider string // the provider label on spans and metrics
	// PricesFile is a price table for ai_cost_total; empty means the
	// built-in table.
	PricesFile string
}

// ConfigFromEnv reads AI_BASE_URL, AI_API_KEY, AI_MODEL (default
// gpt-4o-mini), AI_PROVIDER (default openai) and AI_PRICES_FILE.
func ConfigFromEnv() Config {
	return Config{
		LLMBaseURL:  serve.Env("AI_BASE_URL", ""),
		LLMAPIKey:   serve.Env("AI_API_KEY", ""),
		LLMModel:    serve.Env("AI_MODEL", "gpt-4o-mini"),
		LLMProvider: serve.Env("AI_PROVIDER", "openai"),
		PricesFile:  serve.Env("AI_PRICES_FILE", ""),
	}
}

// llmTimeout bounds one call to a remote LLM.
const llmTimeout = 60 * time.Second

// NewHandler builds the agent the way cmd/workflow-agent serves it, and the
// e2e slice tests it: its LLM, its price table, and its routes behind the
// telemetry middleware.
func NewHandler(cfg Config, tel *telemetry.Telemetry) (http.Handler, error) {
	var llm LLM = BuiltinPlanner{}
	if cfg.LLMBaseURL != "" {
		llm = &OpenAI{
			BaseURL: cfg.LLMBaseURL,
			APIKey:  cfg.LLMAPIKey,
			ModelID: cfg.LLMModel,
			Name:    cfg.LLMProvider,
			HTTP:    telemetry.HTTPClient(llmTimeout, telemetry.WithTracerProvider(tel.TracerProvider)),
		}
	}
	prices := config.DefaultAIPrices()
	if cfg.PricesFile != "" {
		var err error
		if prices, err = telemetry.LoadPriceTable(cfg.PricesFile); err != nil {
			return nil, err
		}
	}
	tel.Metrics.SetPrices(prices)
	tel.Logger.Info("llm provider", slog.String("provider", llm.Provider()), slog.String("model", llm.Model()))
	return tel.Middleware()(New(llm, tel.Logger, tel.TracerProvider, tel.Metrics).Routes()), nil
}
