// Program otelcol-ai-teams is the AI Teams OpenTelemetry Collector distribution.
//
// The layout (main.go, main_others.go, main_windows.go, components.go) follows
// what the collector builder (ocb) v0.158.0 generates from builder-config.yaml,
// but the files are maintained by hand: keep them in step with that manifest.
package main

import (
	"fmt"
	"os"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	envprovider "go.opentelemetry.io/collector/confmap/provider/envprovider"
	fileprovider "go.opentelemetry.io/collector/confmap/provider/fileprovider"
	httpprovider "go.opentelemetry.io/collector/confmap/provider/httpprovider"
	httpsprovider "go.opentelemetry.io/collector/confmap/provider/httpsprovider"
	yamlprovider "go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
)

// Distribution identity, reported by --version and the components subcommand.
const (
	distCommand     = "otelcol-ai-teams"
	distDescription = "AI Teams OpenTelemetry Collector distribution"
	distVersion     = "0.158.0-ai-teams"
)

func settings() otelcol.CollectorSettings {
	info := component.BuildInfo{
		Command:     distCommand,
		Description: distDescription,
		Version:     distVersion,
	}

	return otelcol.CollectorSettings{
		BuildInfo: info,
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{
					envprovider.NewFactory(),
					fileprovider.NewFactory(),
					httpprovider.NewFactory(),
					httpsprovider.NewFactory(),
					yamlprovider.NewFactory(),
				},
			},
		},
		ProviderModules: map[string]string{
			envprovider.NewFactory().Create(confmap.ProviderSettings{}).Scheme():   "go.opentelemetry.io/collector/confmap/provider/envprovider v1.64.0",
			fileprovider.NewFactory().Create(confmap.ProviderSettings{}).Scheme():  "go.opentelemetry.io/collector/confmap/provider/fileprovider v1.64.0",
			httpprovider.NewFactory().Create(confmap.ProviderSettings{}).Scheme():  "go.opentelemetry.io/collector/confmap/provider/httpprovider v1.64.0",
			httpsprovider.NewFactory().Create(confmap.ProviderSettings{}).Scheme(): "go.opentelemetry.io/collector/confmap/provider/httpsprovider v1.64.0",
			yamlprovider.NewFactory().Create(confmap.ProviderSettings{}).Scheme():  "go.opentelemetry.io/collector/confmap/provider/yamlprovider v1.64.0",
		},
		ConverterModules: []string{},
	}
}

func main() {
	if addr := os.Getenv("PPROF_ADDR"); addr != "" {
		bound, err := serveProfiling(addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, distCommand+":", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, distCommand+": profiling on http://"+bound+"/debug/pprof/")
	}
	if err := run(settings()); err != nil {
		// cobra already printed the error; do not log it twice.
		os.Exit(1)
	}
}

func runInteractive(params otelcol.CollectorSettings) error {
	return otelcol.NewCommand(params).Execute()
}
