package main

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/receiver"
	otelconftelemetry "go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"

	// exporters
	fileexporter "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter"
	prometheusexporter "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusexporter"
	prometheusremotewriteexporter "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter"
	debugexporter "go.opentelemetry.io/collector/exporter/debugexporter"
	otlpexporter "go.opentelemetry.io/collector/exporter/otlpexporter"
	otlphttpexporter "go.opentelemetry.io/collector/exporter/otlphttpexporter"

	// extensions
	basicauthextension "github.com/open-telemetry/opentelemetry-collector-contrib/extension/basicauthextension"
	healthcheckextension "github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension"
	filestorage "github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"

	// processors
	attributesprocessor "github.com/open-telemetry/opentelemetry-collector-contrib/processor/attributesprocessor"
	redactionprocessor "github.com/open-telemetry/opentelemetry-collector-contrib/processor/redactionprocessor"
	resourceprocessor "github.com/open-telemetry/opentelemetry-collector-contrib/processor/resourceprocessor"
	batchprocessor "go.opentelemetry.io/collector/processor/batchprocessor"
	memorylimiterprocessor "go.opentelemetry.io/collector/processor/memorylimiterprocessor"

	// receivers
	otlpreceiver "go.opentelemetry.io/collector/receiver/otlpreceiver"
)

// Go module (path + version) of every component, as the `components`
// subcommand reports them. Keep in step with go.mod.
const (
	coreVersion    = " v0.158.0"
	contribVersion = " v0.158.0"
	contrib        = "github.com/open-telemetry/opentelemetry-collector-contrib/"
	core           = "go.opentelemetry.io/collector/"
)

// aliasProvider is implemented by factories that still accept a deprecated
// type name (e.g. otlp -> otlp_grpc); the alias gets the same module entry.
type aliasProvider interface{ DeprecatedAlias() component.Type }

func makeModulesMap[T component.Factory](factories map[component.Type]T, modules map[component.Type]string) map[component.Type]string {
	for compType, factory := range factories {
		if ap, ok := any(factory).(aliasProvider); ok {
			alias := ap.DeprecatedAlias()
			if alias.String() != "" {
				modules[alias] = modules[compType]
			}
		}
	}
	return modules
}

func components() (otelcol.Factories, error) {
	var err error
	factories := otelcol.Factories{
		Telemetry: otelconftelemetry.NewFactory(),
	}

	factories.Extensions, err = otelcol.MakeFactoryMap[extension.Factory](
		basicauthextension.NewFactory(),
		healthcheckextension.NewFactory(),
		filestorage.NewFactory(),
	)
	if err != nil {
		return otelcol.Factories{}, err
	}
	factories.ExtensionModules = makeModulesMap(factories.Extensions, map[component.Type]string{
		basicauthextension.NewFactory().Type():   contrib + "extension/basicauthextension" + contribVersion,
		healthcheckextension.NewFactory().Type(): contrib + "extension/healthcheckextension" + contribVersion,
		filestorage.NewFactory().Type():          contrib + "extension/storage/filestorage" + contribVersion,
	})

	factories.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](
		otlpreceiver.NewFactory(),
	)
	if err != nil {
		return otelcol.Factories{}, err
	}
	factories.ReceiverModules = makeModulesMap(factories.Receivers, map[component.Type]string{
		otlpreceiver.NewFactory().Type(): core + "receiver/otlpreceiver" + coreVersion,
	})

	factories.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](
		debugexporter.NewFactory(),
		otlpexporter.NewFactory(),
		otlphttpexporter.NewFactory(),
		fileexporter.NewFactory(),
		prometheusexporter.NewFactory(),
		prometheusremotewriteexporter.NewFactory(),
	)
	if err != nil {
		return otelcol.Factories{}, err
	}
	factories.ExporterModules = makeModulesMap(factories.Exporters, map[component.Type]string{
		debugexporter.NewFactory().Type():                 core + "exporter/debugexporter" + coreVersion,
		otlpexporter.NewFactory().Type():                  core + "exporter/otlpexporter" + coreVersion,
		otlphttpexporter.NewFactory().Type():              core + "exporter/otlphttpexporter" + coreVersion,
		fileexporter.NewFactory().Type():                  contrib + "exporter/fileexporter" + contribVersion,
		prometheusexporter.NewFactory().Type():            contrib + "exporter/prometheusexporter" + contribVersion,
		prometheusremotewriteexporter.NewFactory().Type(): contrib + "exporter/prometheusremotewriteexporter" + contribVersion,
	})

	factories.Processors, err = otelcol.MakeFactoryMap[processor.Factory](
		memorylimiterprocessor.NewFactory(),
		batchprocessor.NewFactory(),
		resourceprocessor.NewFactory(),
		attributesprocessor.NewFactory(),
		redactionprocessor.NewFactory(),
	)
	if err != nil {
		return otelcol.Factories{}, err
	}
	factories.ProcessorModules = makeModulesMap(factories.Processors, map[component.Type]string{
		memorylimiterprocessor.NewFactory().Type(): core + "processor/memorylimiterprocessor" + coreVersion,
		batchprocessor.NewFactory().Type():         core + "processor/batchprocessor" + coreVersion,
		resourceprocessor.NewFactory().Type():      contrib + "processor/resourceprocessor" + contribVersion,
		attributesprocessor.NewFactory().Type():    contrib + "processor/attributesprocessor" + contribVersion,
		redactionprocessor.NewFactory().Type():     contrib + "processor/redactionprocessor" + contribVersion,
	})

	factories.Connectors, err = otelcol.MakeFactoryMap[connector.Factory]()
	if err != nil {
		return otelcol.Factories{}, err
	}
	factories.ConnectorModules = makeModulesMap(factories.Connectors, map[component.Type]string{})

	return factories, nil
}
