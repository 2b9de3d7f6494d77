package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestVerifyWithoutAStack(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	var stdout, stderr bytes.Buffer
	code := run([]string{"verify", "--api-key", "k", "--wait", "300ms", "--gateway", down.URL, "--jaeger", down.URL,
		"--prometheus", down.URL, "--collector", down.URL, "--log-dir", t.TempDir(), "--data-dir", t.TempDir()}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "unreachable: is the stack running") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "0 checks passed, 23 failed, 2 skipped") || !strings.Contains(stdout.String(), "L4  The gateway is healthy") {
		t.Errorf("table:\n%s", stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"help", "verify"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "Usage: aiteams verify") {
		t.Errorf("help: exit %d, %q", code, stdout.String())
	}
}

func TestCloudSetting(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("GRAFANA_CLOUD_PROMETHEUS_URL", "")
	if got := cloudSetting("GRAFANA_CLOUD_PROMETHEUS_URL"); got != "" {
		t.Errorf("nothing set: %q", got)
	}
	if err := os.WriteFile(".env.monitoring", []byte("# comment\nGRAFANA_CLOUD_PROMETHEUS_URL=<https://…/api/prom/push>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := cloudSetting("GRAFANA_CLOUD_PROMETHEUS_URL"); got != "" {
		t.Errorf("a placeholder counted as set: %q", got)
	}
	if err := os.WriteFile(".env.monitoring.local", []byte(`GRAFANA_CLOUD_PROMETHEUS_URL="https://prometheus.example/api/prom/push"`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := cloudSetting("GRAFANA_CLOUD_PROMETHEUS_URL"); got != ".env.monitoring.local" {
		t.Errorf("local file: %q", got)
	}
	t.Setenv("GRAFANA_CLOUD_PROMETHEUS_URL", "https://prometheus.example/api/prom/push")
	if got := cloudSetting("GRAFANA_CLOUD_PROMETHEUS_URL"); got != "the environment" {
		t.Errorf("environment: %q", got)
	}
}
