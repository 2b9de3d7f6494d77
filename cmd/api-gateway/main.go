// Command api-gateway is the public entry point: sessions and workflow runs.
package main

import (
	"context"
	"time"

	"github.com/starmates-ai/ai-teams/internal/serve"
	"github.com/starmates-ai/ai-teams/services/apigateway/server"
	"github.com/starmates-ai/ai-teams/services/workflowagent"
	"github.com/starmates-ai/ai-teams/services/workflowengine"
	"github.com/starmates-ai/ai-teams/telemetry"
)

func main() {
	ctx := context.Background()
	tel, err := telemetry.Setup(ctx, telemetry.ConfigFromEnv("api-gateway", serve.Version))
	if err != nil {
		serve.Fatal("api-gateway", err)
	}
	keys, err := server.ParseAPIKeys(serve.Env("API_KEYS", ""))
	if err != nil {
		serve.Fatal("api-gateway", err)
	}
	if keys.Len() == 0 {
		tel.Logger.Warn("API_KEYS is empty: every /api request will be refused with 401")
	}
	store, err := server.OpenStore(ctx, serve.Env("DATA_DIR", "./data"), serve.Env("DATABASE_URL", ""))
	if err != nil {
		serve.Fatal("api-gateway", err)
	}
	defer store.Close()

	hc := telemetry.HTTPClient(60*time.Second, telemetry.WithTracerProvider(tel.TracerProvider), telemetry.WithPropagators(tel.Propagator))
	srv := server.New(store, keys,
		workflowagent.NewClient(serve.Env("WORKFLOW_AGENT_URL", "http://127.0.0.1:8081"), hc),
		workflowengine.NewClient(serve.Env("WORKFLOW_ENGINE_URL", "http://127.0.0.1:8082"), hc),
		tel.Logger, tel.Metrics)
	h := tel.Middleware(telemetry.WithTrustedCaller(keys.Trusted))(srv.Routes())
	if err := serve.Run(ctx, serve.NewServer(serve.Env("ADDR", ":8080"), h, tel.Logger), tel); err != nil {
		serve.Fatal("api-gateway", err)
	}
}
