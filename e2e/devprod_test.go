package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starmates-ai/ai-teams/internal/lookup"
	"github.com/starmates-ai/ai-teams/services/apigateway"
)

// TestStackDevProdRemoteWrite is the cloud path without the cloud: two
// gateways (ENVIRONMENT=dev and ENVIRONMENT=prod) export to one collector
// running the real cloud profile (otel-collector-config.yml +
// otel-collector-cloud.yml), whose remote-write exporter writes into a
// second Prometheus standing in for Grafana Cloud Mimir; its OTLP/HTTP
// exporter (Tempo/Loki) goes to a local sink that checks the Basic auth.
// Only the listen ports are moved by a third, test-only overlay so the
// stack's own collector keeps running.
func TestStackDevProdRemoteWrite(t *testing.T) {
	requireStack(t)
	root := repoRoot(t)
	dir := t.TempDir()

	// Grafana Cloud's OTLP endpoint, as a sink that records the auth it got.
	var mu sync.Mutex
	auths := map[string]bool{}
	paths := map[string]bool{}
	otlp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths[r.Header.Get("Authorization")] = true
		paths[r.URL.Path] = true
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer otlp.Close()

	// The stand-in for Mimir: Prometheus with its remote-write receiver.
	mimirCfg := filepath.Join(dir, "mimir.yml")
	writeFile(t, mimirCfg, "global:\n  scrape_interval: 1m\n")
	mimir := startPrometheus(t, "mimir-prometheus", dir, "--config.file="+mimirCfg,
		"--storage.tsdb.path="+filepath.Join(dir, "mimir-data"), "--web.enable-remote-write-receiver")

	const tenant, token = "123456", "test-access-policy-token"
	grpc := startCloudCollector(t, root, dir, []string{
		"ENVIRONMENT=dev", // the collector's own: a fallback, senders' environments win
		"GRAFANA_CLOUD_TENANT_ID=" + tenant,
		"GRAFANA_CLOUD_API_KEY=" + token,
		"GRAFANA_CLOUD_PROMETHEUS_URL=" + mimir + "/api/v1/write",
		"GRAFANA_CLOUD_OTLP_URL=" + otlp.URL + "/otlp",
		"OTEL_FILE_LOGS=" + filepath.Join(dir, "logs.jsonl"),
	})

	// Two gateways, dev and prod, same collector; service names of this run
	// only, so each environment's series can be told apart by name as well.
	suffix := uniqueSuffix()
	gateways := map[string]string{} // environment → service name
	for _, env := range []string{"dev", "prod"} {
		name := "api-gateway-" + env + "-" + suffix
		gateways[env] = name
		out, exited := startProcess(t, name, root, []string{
			"ENVIRONMENT=" + env, "OTEL_SERVICE_NAME=" + name, "ADDR=127.0.0.1:0", "LOG_LEVEL=INFO",
			"DATA_DIR=" + filepath.Join(dir, env), "API_KEYS=devprod:devprod-key-1", "OTEL_EXPORTER_OTLP_ENDPOINT=" + grpc,
			"OTEL_METRIC_EXPORT_INTERVAL=2000", "OTEL_BSP_SCHEDULE_DELAY=500",
		}, filepath.Join(root, ".bin", "api-gateway"))
		gw := apigateway.NewClient("http://"+serviceAddr(t, name, out, exited), "devprod-key-1", nil)
		for i := range 3 {
			if _, _, err := gw.CreateSession(context.Background(), apigateway.CreateSessionRequest{UserID: fmt.Sprintf("u_%s_%d", env, i)}); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}

	q := `count by (service, environment, project) (request_count{endpoint="/api/v1/sessions"})`
	var last []lookup.Sample
	poll(t, 90*time.Second, "dev and prod series in the remote-write Prometheus", func() (bool, string) {
		last = promQuery(t, mimir, q)
		seen := map[string]bool{}
		for _, r := range last {
			if r.Labels["project"] == "starmates-ai-team" {
				seen[r.Labels["environment"]+" "+r.Labels["service"]] = true
			}
		}
		return seen["dev "+gateways["dev"]] && seen["prod "+gateways["prod"]], fmt.Sprintf("%v", last)
	})
	if len(last) != 2 {
		t.Errorf("want exactly the two environments apart, got %v", last)
	}
	// Nothing mixed: no series of the prod gateway outside prod, none of the
	// dev gateway outside dev, on any metric.
	for env, name := range gateways {
		mixed := promQuery(t, mimir, fmt.Sprintf(`count by (__name__, environment) ({service=%q, environment!=%q})`, name, env))
		if len(mixed) != 0 {
			t.Errorf("%s's series outside %s: %v", name, env, mixed)
		}
		if promScalar(t, mimir, fmt.Sprintf(`count({service=%q, environment=%q})`, name, env)) == 0 {
			t.Errorf("no series of %s in %s", name, env)
		}
	}

	// Traces and logs went to the OTLP endpoint with Basic instance-id:token.
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(tenant+":"+token))
	poll(t, 30*time.Second, "OTLP traces and logs at the cloud endpoint with Basic auth", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return auths[want] && paths["/otlp/v1/traces"] && paths["/otlp/v1/logs"], fmt.Sprintf("paths %v, %d auth headers", paths, len(auths))
	})
	mu.Lock()
	if len(auths) != 1 {
		t.Errorf("OTLP requests with other auth headers: %d kinds", len(auths))
	}
	mu.Unlock()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func portOf(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// startCloudCollector runs our collector with the real cloud profile on free
// ports (startCollector), its queues in the test's own directory, and
// returns its OTLP/gRPC address.
func startCloudCollector(t *testing.T, root, dir string, env []string) string {
	t.Helper()
	env = append(env, "OTEL_STORAGE_DIR="+filepath.Join(dir, "queue"))
	return startCollector(t, filepath.Join(root, ".bin", "otelcol-ai-teams"), root, dir, env,
		"monitoring/otel-collector-config.yml", "monitoring/otel-collector-cloud.yml").grpc
}

// freeAddr is a port free at the moment of the call, for processes that
// cannot report the port they bound (see startCloudCollector).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
