// Package monitoring_test checks the monitoring configuration files against
// each other: docker-compose mounts and ports, the collector's and Jaeger's
// listen ports, Prometheus' targets, and the absence of secrets in the tree.
package monitoring_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func readYAML(t *testing.T, path string, out any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type compose struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		Environment map[string]string `yaml:"environment"`
	} `yaml:"services"`
}

// portOf returns the port of "host:port" or "${env:X:-host}:port".
func portOf(endpoint string) string {
	i := strings.LastIndexByte(endpoint, ':')
	if i < 0 {
		return ""
	}
	return endpoint[i+1:]
}

var endpointRe = regexp.MustCompile(`(?m)^\s*endpoint:\s*(\S+)\s*$`)

// listenPorts lists the ports of every `endpoint:` in a config that binds
// locally (its host part is the bind-host variable or loopback).
func listenPorts(t *testing.T, path, hostVar string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]bool{}
	for _, m := range endpointRe.FindAllStringSubmatch(string(b), -1) {
		if strings.Contains(m[1], hostVar) || strings.HasPrefix(m[1], "127.0.0.1:") {
			ports[portOf(m[1])] = true
		}
	}
	return ports
}

func TestComposeFile(t *testing.T) {
	var c compose
	readYAML(t, "../docker-compose.monitoring.yml", &c)
	for _, want := range []string{"otel-collector", "jaeger", "prometheus"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("service %s missing", want)
		}
	}
	for name, s := range c.Services {
		tag := s.Image[strings.LastIndexByte(s.Image, ':')+1:]
		if !strings.Contains(s.Image, ":") || tag == "latest" || tag == "" {
			t.Errorf("%s: image %q is not pinned", name, s.Image)
		}
		for _, v := range s.Volumes {
			src := strings.SplitN(v, ":", 2)[0]
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("%s mounts %s, which does not exist", name, src)
				}
			}
		}
	}

	published := func(svc string) map[string]bool {
		out := map[string]bool{}
		for _, p := range c.Services[svc].Ports {
			hostPort, containerPort, _ := strings.Cut(p, ":")
			if hostPort != containerPort {
				t.Errorf("%s publishes %s: host and container ports should match the conventions", svc, p)
			}
			out[containerPort] = true
		}
		return out
	}

	col := c.Services["otel-collector"]
	if col.Environment["OTEL_COLLECTOR_HOST"] != "0.0.0.0" {
		t.Error("collector must bind 0.0.0.0 inside its container")
	}
	colPorts := listenPorts(t, "otel-collector-config.yml", "OTEL_COLLECTOR_HOST")
	for _, p := range []string{"4317", "4318", "8889", "13133"} {
		if !colPorts[p] {
			t.Errorf("collector config does not listen on %s (has %v)", p, colPorts)
		}
		if !published("otel-collector")[p] {
			t.Errorf("compose does not publish collector port %s", p)
		}
	}
	if jp := portOf(col.Environment["JAEGER_OTLP_ENDPOINT"]); !listenPorts(t, "jaeger-config.yml", "JAEGER_HOST")[jp] {
		t.Errorf("collector sends traces to Jaeger port %s, which Jaeger does not listen on", jp)
	}
	if c.Services["jaeger"].Environment["JAEGER_HOST"] != "0.0.0.0" || !published("jaeger")["16686"] {
		t.Error("jaeger must bind 0.0.0.0 and publish 16686")
	}
	if !published("prometheus")["9090"] {
		t.Error("prometheus must publish 9090")
	}
	// Jaeger's ports must not collide with the collector's.
	for p := range listenPorts(t, "jaeger-config.yml", "JAEGER_HOST") {
		if colPorts[p] || p == "8888" {
			t.Errorf("Jaeger and the collector both bind %s", p)
		}
	}
}

type promConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// Prometheus, native and in compose, scrapes the ports the collector serves.
func TestPrometheusTargets(t *testing.T) {
	for _, f := range []string{"prometheus.yml", "prometheus.docker.yml"} {
		var p promConfig
		readYAML(t, f, &p)
		targets := map[string]string{}
		for _, sc := range p.ScrapeConfigs {
			for _, st := range sc.StaticConfigs {
				for _, tg := range st.Targets {
					targets[sc.JobName] = tg
				}
			}
		}
		if portOf(targets["otel-collector-app"]) != "8889" || portOf(targets["otel-collector"]) != "8888" {
			t.Errorf("%s: collector targets %v", f, targets)
		}
		if len(p.RuleFiles) == 0 {
			t.Errorf("%s loads no rule files", f)
		}
	}
}

func TestPrometheusConfigValid(t *testing.T) {
	run(t, "promtool", "check", "config", "--syntax-only", "prometheus.yml")
}

// secretPatterns are shapes of real credentials. The tree may hold
// placeholders, never one of these.
var secretPatterns = map[string]*regexp.Regexp{
	"Grafana Cloud token": regexp.MustCompile(`glc_[A-Za-z0-9+/=]{20,}`),
	"AWS access key id":   regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`),
	"OpenAI-style key":    regexp.MustCompile(`\bsk-[A-Za-z0-9]{32,}`),
	"private key":         regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`),
	"JWT":                 regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}`),
	"Slack token":         regexp.MustCompile(`xox[baprs]-[0-9A-Za-z-]{10,}`),
}

func TestNoSecretsInTree(t *testing.T) {
	out, err := exec.Command("git", "-C", "..", "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(exit.Stderr))
		}
		cannotRun(t, "git ls-files lists the files to scan: %v", err)
	}
	files := strings.Fields(string(out))
	if len(files) < 10 {
		t.Fatalf("only %d files listed", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			continue // deleted in the work tree
		}
		for name, re := range secretPatterns {
			if loc := re.FindIndex(b); loc != nil {
				t.Errorf("%s: %s-shaped string at byte %d", f, name, loc[0])
			}
		}
	}
}

func TestEnvTemplateHasPlaceholdersOnly(t *testing.T) {
	b, err := os.ReadFile("../.env.monitoring")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(k, "#") || !strings.HasPrefix(k, "GRAFANA_CLOUD_") {
			continue
		}
		if v != "" && !strings.HasPrefix(v, "<") {
			t.Errorf(".env.monitoring: %s has a value %q, want a <placeholder>", k, v)
		}
	}
}

// The cloud profile's remote write carries the design guide's external
// labels (environment, project) and Basic auth, never a Bearer header.
func TestCloudOverlay(t *testing.T) {
	var c struct {
		Extensions map[string]struct {
			ClientAuth map[string]string `yaml:"client_auth"`
		} `yaml:"extensions"`
		Exporters map[string]struct {
			Endpoint       string            `yaml:"endpoint"`
			ExternalLabels map[string]string `yaml:"external_labels"`
			Headers        map[string]string `yaml:"headers"`
			Auth           struct {
				Authenticator string `yaml:"authenticator"`
			} `yaml:"auth"`
		} `yaml:"exporters"`
	}
	readYAML(t, "otel-collector-cloud.yml", &c)
	rw, ok := c.Exporters["prometheus_remote_write/grafana_cloud"]
	if !ok {
		t.Fatal("no prometheus_remote_write/grafana_cloud exporter")
	}
	for _, l := range []string{"environment", "project"} {
		if rw.ExternalLabels[l] == "" {
			t.Errorf("remote write lacks external label %s", l)
		}
	}
	for name, e := range c.Exporters {
		if !strings.HasPrefix(e.Auth.Authenticator, "basicauth/") {
			t.Errorf("%s authenticates with %q, want a basicauth extension", name, e.Auth.Authenticator)
		}
		for k, v := range e.Headers {
			if strings.EqualFold(k, "authorization") || strings.Contains(strings.ToLower(v), "bearer") {
				t.Errorf("%s sets an Authorization header by hand", name)
			}
		}
		ext, ok := c.Extensions[e.Auth.Authenticator]
		if !ok || !strings.Contains(ext.ClientAuth["password"], "GRAFANA_CLOUD_API_KEY") {
			t.Errorf("%s: its authenticator must take the password from GRAFANA_CLOUD_API_KEY", name)
		}
	}
}
