// Command api-gateway is the public entry point: sessions and workflow runs.
package main

import (
	"context"

	"github.com/starmates-ai/ai-teams/internal/serve"
	"github.com/starmates-ai/ai-teams/services/apigateway/server"
	"github.com/starmates-ai/ai-teams/telemetry"
)

func main() {
	ctx := context.Background()
	tel, err := telemetry.Setup(ctx, telemetry.ConfigFromEnv("api-gateway", serve.Version))
	if err != nil {
		serve.Fatal("api-gateway", err)
	}
	gw, err := server.Open(ctx, server.ConfigFromEnv(), tel)
	if err != nil {
		serve.Fatal("api-gateway", err)
	}
	defer gw.Close()
	if err := serve.Run(ctx, serve.NewServer(serve.Env("ADDR", ":8080"), gw.Handler, tel.Logger), tel); err != nil {
		serve.Fatal("api-gateway", err)
	}
}
