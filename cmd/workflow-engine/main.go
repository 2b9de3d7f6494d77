// Command workflow-engine runs plans: POST /execute.
package main

import (
	"context"

	"github.com/starmates-ai/ai-teams/internal/serve"
	"github.com/starmates-ai/ai-teams/services/workflowengine/server"
	"github.com/starmates-ai/ai-teams/telemetry"
)

func main() {
	ctx := context.Background()
	tel, err := telemetry.Setup(ctx, telemetry.ConfigFromEnv("workflow-engine", serve.Version))
	if err != nil {
		serve.Fatal("workflow-engine", err)
	}
	h := server.NewHandler(tel, server.DefaultStepWork)
	if err := serve.Run(ctx, serve.NewServer(serve.Env("ADDR", ":8082"), h, tel.Logger), tel); err != nil {
		serve.Fatal("workflow-engine", err)
	}
}
