package telemetry

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
)

// Environments a service may run in. Anything else is a start-up error: a typo
// in ENVIRONMENT would otherwise split dashboards and alerts silently.
const (
	EnvDev     = "dev"
	EnvStaging = "staging"
	EnvProd    = "prod"
)

// DefaultProject is the value of the `project` resource attribute and label.
const DefaultProject = "starmates-ai-team"

// DefaultOTLPEndpoint is where the collector listens for OTLP/gRPC.
const DefaultOTLPEndpoint = "localhost:4317"

// Config describes one service's telemetry. Zero fields take their defaults;
// ConfigFromEnv fills it from the environment variables every service shares.
type Config struct {
	ServiceName    string
	ServiceVersion string
	Environment    string // dev, staging or prod
	Project        string
	// OTLPEndpoint is host:port (insecure) or an http:// / https:// URL.
	OTLPEndpoint string
	// LogLevel overrides the level chosen by Environment when non-empty.
	LogLevel string
	// LogFieldNames is "plain" (timestamp, level, message; the default) or
	// "at" (the design guide's @timestamp, @level, @message).
	LogFieldNames string
	// TrustedProxies are the CIDRs (or single addresses) of the proxies in
	// front of the service, comma-separated, as in TRUSTED_PROXIES; see
	// WithTrustedProxies. Empty: no proxy is trusted.
	TrustedProxies string
	// Disabled turns off every OTLP exporter (OTEL_SDK_DISABLED=true); stdout logs stay.
	Disabled bool
	// LogWriter receives the JSON log lines; nil means os.Stdout.
	LogWriter interface{ Write([]byte) (int, error) }
}

// ConfigFromEnv reads ENVIRONMENT, PROJECT, OTEL_SERVICE_NAME,
// OTEL_EXPORTER_OTLP_ENDPOINT, LOG_LEVEL, LOG_FIELD_NAMES, TRUSTED_PROXIES
// and OTEL_SDK_DISABLED.
// defaultService is used when OTEL_SERVICE_NAME is unset.
func ConfigFromEnv(defaultService, version string) Config {
	return Config{
		ServiceName:    envOr("OTEL_SERVICE_NAME", defaultService),
		ServiceVersion: version,
		Environment:    envOr("ENVIRONMENT", EnvDev),
		Project:        envOr("PROJECT", DefaultProject),
		OTLPEndpoint:   envOr("OTEL_EXPORTER_OTLP_ENDPOINT", DefaultOTLPEndpoint),
		LogLevel:       os.Getenv("LOG_LEVEL"),
		LogFieldNames:  os.Getenv("LOG_FIELD_NAMES"),
		TrustedProxies: os.Getenv("TRUSTED_PROXIES"),
		Disabled:       strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true"),
	}
}

func envOr(key, def string) string {
	if v := strings.TrimSpace(os.Getenv(key)); v != "" {
		return v
	}
	return def
}

// withDefaults validates c and fills defaults.
func (c Config) withDefaults() (Config, error) {
	if c.ServiceName == "" {
		return c, fmt.Errorf("telemetry: service name is required")
	}
	if c.ServiceVersion == "" {
		c.ServiceVersion = "dev"
	}
	if c.Environment == "" {
		c.Environment = EnvDev
	}
	switch c.Environment {
	case EnvDev, EnvStaging, EnvProd:
	default:
		return c, fmt.Errorf("telemetry: ENVIRONMENT=%q is not one of dev, staging, prod", c.Environment)
	}
	if c.Project == "" {
		c.Project = DefaultProject
	}
	if c.OTLPEndpoint == "" {
		c.OTLPEndpoint = DefaultOTLPEndpoint
	}
	if _, err := c.level(); err != nil {
		return c, err
	}
	if _, err := c.fieldNames(); err != nil {
		return c, err
	}
	if _, err := c.trustedProxies(); err != nil {
		return c, err
	}
	return c, nil
}

// fieldNames reads LogFieldNames.
func (c Config) fieldNames() (FieldNames, error) {
	switch strings.ToLower(strings.TrimSpace(c.LogFieldNames)) {
	case "", "plain":
		return PlainFieldNames, nil
	case "at", "@":
		return AtFieldNames, nil
	}
	return 0, fmt.Errorf("telemetry: LOG_FIELD_NAMES=%q is not plain or at", c.LogFieldNames)
}

// trustedProxies parses TrustedProxies. A typo is a start-up error: it
// would otherwise attribute every request to the load balancer, silently.
func (c Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(c.TrustedProxies, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, errAddr := netip.ParseAddr(f)
			if errAddr != nil {
				return nil, fmt.Errorf("telemetry: TRUSTED_PROXIES entry %q is not a CIDR or an IP address", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// level is the minimum log level: prod WARN, staging INFO, dev DEBUG, unless
// LogLevel overrides it.
func (c Config) level() (slog.Level, error) {
	if c.LogLevel != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
			return 0, fmt.Errorf("telemetry: LOG_LEVEL=%q is not DEBUG, INFO, WARN or ERROR", c.LogLevel)
		}
		return l, nil
	}
	switch c.Environment {
	case EnvProd:
		return slog.LevelWarn, nil
	case EnvStaging:
		return slog.LevelInfo, nil
	default:
		return slog.LevelDebug, nil
	}
}
