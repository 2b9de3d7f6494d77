package server

import (
	"strings"
	"testing"
	"time"
)

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("API_KEYS", "web:key-one")
	t.Setenv("DATABASE_URL", "postgres://db:5432/aiteams")
	t.Setenv("DATA_DIR", "")
	t.Setenv("WORKFLOW_AGENT_URL", "http://agent:9081")
	t.Setenv("WORKFLOW_ENGINE_URL", "")
	t.Setenv("DOWNSTREAM_TIMEOUT", "")
	t.Setenv("MAX_IN_FLIGHT", "")
	want := Config{
		APIKeys:           "web:key-one",
		DatabaseURL:       "postgres://db:5432/aiteams",
		DataDir:           "./data",
		AgentURL:          "http://agent:9081",
		EngineURL:         "http://127.0.0.1:8082",
		DownstreamTimeout: DefaultDownstreamTimeout,
		MaxInFlight:       DefaultMaxInFlight,
	}
	if got := ConfigFromEnv(); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}

	t.Setenv("DOWNSTREAM_TIMEOUT", "45s")
	t.Setenv("MAX_IN_FLIGHT", "0")
	if got := ConfigFromEnv(); got.DownstreamTimeout != 45*time.Second || got.MaxInFlight != 0 || got.envErr != nil {
		t.Errorf("DOWNSTREAM_TIMEOUT=45s MAX_IN_FLIGHT=0: got %+v", got)
	}
}

// A malformed limit stops start-up with the variable's name instead of
// quietly meaning the default.
func TestConfigFromEnvRejectsMalformedLimits(t *testing.T) {
	for key, value := range map[string]string{"DOWNSTREAM_TIMEOUT": "30", "MAX_IN_FLIGHT": "lots"} {
		t.Run(key, func(t *testing.T) {
			t.Setenv("DOWNSTREAM_TIMEOUT", "")
			t.Setenv("MAX_IN_FLIGHT", "")
			t.Setenv(key, value)
			_, err := Open(t.Context(), ConfigFromEnv(), nil)
			if err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("%s=%s: Open returned %v, want an error naming the variable", key, value, err)
			}
		})
	}
}
