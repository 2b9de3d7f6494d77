package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
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
	if !strings.Contains(stdout.String(), "0 checks passed, 23 failed, 1 skipped") || !strings.Contains(stdout.String(), "L4  The gateway is healthy") {
		t.Errorf("table:\n%s", stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"help", "verify"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "Usage: aiteams verify") {
		t.Errorf("help: exit %d, %q", code, stdout.String())
	}
}
