package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
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
	mimirAddr := freeAddr(t)
	mimirCfg := filepath.Join(dir, "mimir.yml")
	writeFile(t, mimirCfg, "global:\n  scrape_interval: 1m\n")
	startProcess(t, "mimir-prometheus", dir, nil, "prometheus", "--config.file="+mimirCfg,
		"--storage.tsdb.path="+filepath.Join(dir, "mimir-data"), "--web.enable-remote-write-receiver",
		"--web.listen-address="+mimirAddr)
	waitHealthy(t, "http://"+mimirAddr+"/-/ready")

	// The collector, cloud profile; ports moved off the stack's collector.
	grpc, httpPort, prom, health, own := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	overlay := filepath.Join(dir, "ports.yml")
	writeFile(t, overlay, fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc: {endpoint: %q}
      http: {endpoint: %q}
exporters:
  prometheus: {endpoint: %q}
extensions:
  health_check: {endpoint: %q}
  file_storage: {directory: %q}
service:
  telemetry:
    metrics:
      readers:
        - pull: {exporter: {prometheus: {host: 127.0.0.1, port: %s}}}
`, grpc, httpPort, prom, health, filepath.Join(dir, "queue"), portOf(own)))
	const tenant, token = "123456", "test-access-policy-token"
	startProcess(t, "collector-cloud", root, []string{
		"ENVIRONMENT=dev", // the collector's own: a fallback, senders' environments win
		"GRAFANA_CLOUD_TENANT_ID=" + tenant,
		"GRAFANA_CLOUD_API_KEY=" + token,
		"GRAFANA_CLOUD_PROMETHEUS_URL=http://" + mimirAddr + "/api/v1/write",
		"GRAFANA_CLOUD_OTLP_URL=" + otlp.URL + "/otlp",
		"OTEL_FILE_LOGS=" + filepath.Join(dir, "logs.jsonl"),
	}, filepath.Join(root, ".bin", "otelcol-ai-teams"),
		"--config", "monitoring/otel-collector-config.yml", "--config", "monitoring/otel-collector-cloud.yml", "--config", overlay)
	waitHealthy(t, "http://"+health+"/")

	// Two gateways, dev and prod, same collector.
	for _, env := range []string{"dev", "prod"} {
		addr := freeAddr(t)
		startProcess(t, "gateway-"+env, root, []string{
			"ENVIRONMENT=" + env, "ADDR=" + addr, "DATA_DIR=" + filepath.Join(dir, env),
			"API_KEYS=devprod:devprod-key-1", "OTEL_EXPORTER_OTLP_ENDPOINT=" + grpc,
			"OTEL_METRIC_EXPORT_INTERVAL=2000", "OTEL_BSP_SCHEDULE_DELAY=500",
		}, filepath.Join(root, ".bin", "api-gateway"))
		waitHealthy(t, "http://"+addr+"/healthz")
		for i := range 3 {
			req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/sessions", strings.NewReader(fmt.Sprintf(`{"user_id":"u_%s_%d"}`, env, i)))
			req.Header.Set("X-API-Key", "devprod-key-1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}

	q := `count by (environment, project) (request_count{service="api-gateway",endpoint="/api/v1/sessions"})`
	var last promResult
	poll(t, 90*time.Second, "dev and prod series in the remote-write Prometheus", func() (bool, string) {
		last = promQueryAt(t, "http://"+mimirAddr, q)
		envs := map[string]bool{}
		for _, r := range last.Data.Result {
			if r.Metric["project"] == "starmates-ai-team" {
				envs[r.Metric["environment"]] = true
			}
		}
		return envs["dev"] && envs["prod"], fmt.Sprintf("%v", last.Data.Result)
	})
	if len(last.Data.Result) != 2 {
		t.Errorf("want exactly the two environments apart, got %v", last.Data.Result)
	}
	// The prod gateway's series carry prod only: nothing mixed.
	mixed := promQueryAt(t, "http://"+mimirAddr, `count(request_count{service="api-gateway",environment="prod",service_name!="api-gateway"})`)
	if len(mixed.Data.Result) != 0 {
		t.Errorf("unexpected series: %v", mixed.Data.Result)
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

func promQueryAt(t *testing.T, base, q string) promResult {
	t.Helper()
	var r promResult
	if _, err := getJSON(base+"/api/v1/query?query="+url.QueryEscape(q), &r); err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	return r
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func portOf(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// startProcess runs a helper process for the test, stopping it at cleanup
// and showing its output if the test failed.
func startProcess(t *testing.T, name, dir string, env []string, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out lineSink
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output (tail):\n%s", name, out.tail(3000))
		}
	})
}
