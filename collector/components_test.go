package main

import (
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/otelcol"
)

// The component types our configs in monitoring/ rely on, by their canonical
// v0.158.0 names. otlp_grpc, otlp_http and prometheus_remote_write also
// answer to their deprecated names otlp, otlphttp and prometheusremotewrite.
var required = map[string][]string{
	"receivers":  {"otlp"},
	"processors": {"memory_limiter", "batch", "resource", "attributes", "redaction"},
	"exporters":  {"otlp_grpc", "otlp_http", "debug", "file", "prometheus", "prometheus_remote_write"},
	"extensions": {"health_check", "basicauth", "file_storage"},
}

func has[T any](m map[component.Type]T, name string) bool {
	_, ok := m[component.MustNewType(name)]
	return ok
}

func TestComponentsRegistered(t *testing.T) {
	f, err := components()
	if err != nil {
		t.Fatalf("components(): %v", err)
	}
	if f.Telemetry == nil {
		t.Error("no telemetry factory")
	}
	for kind, names := range required {
		for _, name := range names {
			var factory, module bool
			switch kind {
			case "receivers":
				factory, module = has(f.Receivers, name), has(f.ReceiverModules, name)
			case "processors":
				factory, module = has(f.Processors, name), has(f.ProcessorModules, name)
			case "exporters":
				factory, module = has(f.Exporters, name), has(f.ExporterModules, name)
			case "extensions":
				factory, module = has(f.Extensions, name), has(f.ExtensionModules, name)
			}
			if !factory {
				t.Errorf("%s: %q not registered", kind, name)
			}
			if !module {
				t.Errorf("%s: %q has no module entry", kind, name)
			}
		}
	}
	// Deprecated aliases still get a module entry (used by `components`).
	for _, alias := range []string{"otlp", "otlphttp", "prometheusremotewrite"} {
		if !has(f.ExporterModules, alias) {
			t.Errorf("exporter alias %q has no module entry", alias)
		}
	}
}

func TestBuildInfo(t *testing.T) {
	s := settings()
	if s.BuildInfo.Command != "otelcol-ai-teams" || s.BuildInfo.Version == "" {
		t.Errorf("unexpected build info %+v", s.BuildInfo)
	}
	if len(s.ConfigProviderSettings.ResolverSettings.ProviderFactories) != len(s.ProviderModules) {
		t.Error("every confmap provider needs a module entry")
	}
}

// validate runs `otelcol-ai-teams validate` in-process on the given configs.
func validate(t *testing.T, configs ...string) {
	t.Helper()
	args := []string{"validate"}
	for _, c := range configs {
		args = append(args, "--config", filepath.Join("..", "monitoring", c))
	}
	cmd := otelcol.NewCommand(settings())
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("validate %v: %v", configs, err)
	}
}

func TestLocalProfileValidates(t *testing.T) {
	validate(t, "otel-collector-config.yml")
}

func TestCloudProfileValidates(t *testing.T) {
	// Placeholders only; validate does not dial anything.
	t.Setenv("GRAFANA_CLOUD_TENANT_ID", "000000")
	t.Setenv("GRAFANA_CLOUD_API_KEY", "placeholder")
	t.Setenv("GRAFANA_CLOUD_PROMETHEUS_URL", "http://127.0.0.1:9/api/prom/push")
	t.Setenv("GRAFANA_CLOUD_OTLP_URL", "http://127.0.0.1:9/otlp")
	t.Setenv("OTEL_STORAGE_DIR", t.TempDir())
	validate(t, "otel-collector-config.yml", "otel-collector-cloud.yml")
}
