package server

import "testing"

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("API_KEYS", "web:key-one")
	t.Setenv("DATABASE_URL", "postgres://db:5432/aiteams")
	t.Setenv("DATA_DIR", "")
	t.Setenv("WORKFLOW_AGENT_URL", "http://agent:9081")
	t.Setenv("WORKFLOW_ENGINE_URL", "")
	want := Config{
		APIKeys:     "web:key-one",
		DatabaseURL: "postgres://db:5432/aiteams",
		DataDir:     "./data",
		AgentURL:    "http://agent:9081",
		EngineURL:   "http://127.0.0.1:8082",
	}
	if got := ConfigFromEnv(); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
