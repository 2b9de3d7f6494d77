// Command workflow-agent plans workflows: POST /generate-workflow.
package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/starmates-ai/ai-teams/config"
	"github.com/starmates-ai/ai-teams/internal/serve"
	"github.com/starmates-ai/ai-teams/services/workflowagent/server"
	"github.com/starmates-ai/ai-teams/telemetry"
)

func main() {
	ctx := context.Background()
	tel, err := telemetry.Setup(ctx, telemetry.ConfigFromEnv("workflow-agent", serve.Version))
	if err != nil {
		serve.Fatal("workflow-agent", err)
	}
	var llm server.LLM = server.BuiltinPlanner{}
	if base := serve.Env("AI_BASE_URL", ""); base != "" {
		llm = &server.OpenAI{
			BaseURL: base,
			APIKey:  serve.Env("AI_API_KEY", ""),
			ModelID: serve.Env("AI_MODEL", "gpt-4o-mini"),
			Name:    serve.Env("AI_PROVIDER", "openai"),
			HTTP:    telemetry.HTTPClient(60*time.Second, telemetry.WithTracerProvider(tel.TracerProvider)),
		}
	}
	prices := config.DefaultAIPrices()
	if path := serve.Env("AI_PRICES_FILE", ""); path != "" {
		if prices, err = telemetry.LoadPriceTable(path); err != nil {
			serve.Fatal("workflow-agent", err)
		}
	}
	tel.Metrics.SetPrices(prices)
	tel.Logger.Info("llm provider", slog.String("provider", llm.Provider()), slog.String("model", llm.Model()))
	srv := server.New(llm, tel.Logger, tel.TracerProvider, tel.Metrics)
	h := tel.Middleware()(srv.Routes())
	if err := serve.Run(ctx, serve.NewServer(serve.Env("ADDR", ":8081"), h, tel.Logger), tel); err != nil {
		serve.Fatal("workflow-agent", err)
	}
}
