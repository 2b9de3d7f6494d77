package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starmates-ai/ai-teams/services/apigateway"
)

// startProcess runs a helper process for the test, stopping it at cleanup
// and showing its output if the test failed. It returns the process's
// combined output and a channel closed when it exits.
func startProcess(t *testing.T, name, dir string, env []string, bin string, args ...string) (*lineSink, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out := &lineSink{}
	cmd.Stdout, cmd.Stderr = out, out
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
	return out, done
}

// serviceAddr waits for a service started with ADDR=127.0.0.1:0 to log the
// address it bound ("listening", field addr) and returns it: the kernel picked
// the port, so no other process can take it between choosing and binding.
func serviceAddr(t *testing.T, name string, out *lineSink, exited <-chan struct{}) string {
	t.Helper()
	return reportedAddr(t, name, out, exited, func() string {
		for _, l := range out.lines(t, name) {
			if l["message"] == "listening" {
				addr, _ := l["addr"].(string)
				return addr
			}
		}
		return ""
	})
}

// prometheusListenRe finds the address Prometheus reports after binding
// (--web.listen-address=127.0.0.1:0).
var prometheusListenRe = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

// startPrometheus runs a Prometheus of the test's own on a port the kernel
// picks and returns its base URL once it is ready.
func startPrometheus(t *testing.T, name, dir string, args ...string) string {
	t.Helper()
	out, exited := startProcess(t, name, dir, nil, "prometheus", append(args, "--web.listen-address=127.0.0.1:0")...)
	base := "http://" + reportedAddr(t, name, out, exited, func() string {
		if m := prometheusListenRe.FindStringSubmatch(out.tail(1 << 16)); m != nil {
			return m[1]
		}
		return ""
	})
	waitHealthy(t, base+"/-/ready")
	return base
}

// reportedAddr polls find until it reads a bound address from a starting
// process's output, and fails at once if the process exits first.
func reportedAddr(t *testing.T, name string, out *lineSink, exited <-chan struct{}, find func() string) string {
	t.Helper()
	var addr string
	poll(t, 60*time.Second, name+" reports the address it bound", func() (bool, string) {
		select {
		case <-exited:
			t.Fatalf("%s exited during start-up:\n%s", name, out.tail(2000))
		default:
		}
		addr = find()
		return addr != "", "no address yet"
	})
	return addr
}

// refusingAddr is an address where a listener accepts connections and
// closes them at once: a collector or a downstream service that is down,
// held by the test for its whole run so no other process can take the port.
func refusingAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

var runSeq atomic.Int32

// uniqueSuffix names this test process's own series: service names built
// from it exist in Prometheus only through this run's requests.
func uniqueSuffix() string {
	return fmt.Sprintf("e2e-%d-%d-%d", time.Now().Unix()%1000000, os.Getpid()%10000, runSeq.Add(1))
}

// trio is a gateway, agent and engine of the test's own, exporting to the
// stack's collector under service names no other run uses, so what
// Prometheus shows for them was caused by this test alone.
type trio struct {
	gateway  string // base URL
	key      string
	client   *apigateway.Client // the gateway's, with key
	suffix   string
	services []string // gateway, agent, engine
}

func (tr trio) serviceRegex() string { return strings.Join(tr.services, "|") }

func startTrio(t *testing.T) trio {
	t.Helper()
	root := repoRoot(t)
	tr := trio{key: "trio-key-" + fmt.Sprint(os.Getpid()), suffix: uniqueSuffix()}
	common := []string{"ENVIRONMENT=dev", "ADDR=127.0.0.1:0", "OTEL_EXPORTER_OTLP_ENDPOINT=127.0.0.1:4317",
		"OTEL_METRIC_EXPORT_INTERVAL=2000", "OTEL_BSP_SCHEDULE_DELAY=500", "LOG_LEVEL=INFO"}
	start := func(binary string, extra ...string) string {
		name := binary + "-" + tr.suffix
		tr.services = append(tr.services, name)
		env := append(append([]string{"OTEL_SERVICE_NAME=" + name}, common...), extra...)
		out, exited := startProcess(t, name, root, env, filepath.Join(root, ".bin", binary))
		return serviceAddr(t, name, out, exited)
	}
	engine := start("workflow-engine")
	agent := start("workflow-agent")
	tr.gateway = "http://" + start("api-gateway", "DATA_DIR="+t.TempDir(), "API_KEYS=trio:"+tr.key,
		"WORKFLOW_AGENT_URL=http://"+agent, "WORKFLOW_ENGINE_URL=http://"+engine)
	tr.client = apigateway.NewClient(tr.gateway, tr.key, nil)
	// The gateway first, as its name appears in the queries.
	tr.services = []string{tr.services[2], tr.services[1], tr.services[0]}
	return tr
}
