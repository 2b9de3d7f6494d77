// Command oncall-webhook receives Alertmanager's notifications in the local
// stack, where Grafana OnCall is not available, and keeps each as one JSON
// line in ONCALL_FILE.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/starmates-ai/ai-teams/internal/oncall"
	"github.com/starmates-ai/ai-teams/internal/serve"
)

func main() {
	path := serve.Env("ONCALL_FILE", "oncall-notifications.jsonl")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		serve.Fatal("oncall-webhook", err)
	}
	defer f.Close()
	ln, err := net.Listen("tcp", serve.Env("ADDR", "127.0.0.1:9095"))
	if err != nil {
		serve.Fatal("oncall-webhook", err)
	}
	fmt.Printf("oncall-webhook: listening on %s, notifications go to %s\n", ln.Addr(), path)
	mux := http.NewServeMux()
	mux.Handle("/alertmanager", &oncall.Recorder{Store: f, Log: os.Stdout})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil {
		serve.Fatal("oncall-webhook", err)
	}
}
