// Command workflow-agent plans workflows: POST /generate-workflow.
package main

import (
	"context"

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
	h, err := server.NewHandler(server.ConfigFromEnv(), tel)
	if err != nil {
		serve.Fatal("workflow-agent", err)
	}
	if err := serve.Run(ctx, serve.NewServer(serve.Env("ADDR", ":8081"), h, tel.Logger), tel); err != nil {
		serve.Fatal("workflow-agent", err)
	}
}
