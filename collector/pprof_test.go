package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestProfilingOnLoopbackOnly(t *testing.T) {
	addr, err := serveProfiling("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Errorf("goroutine profile: %d %.200s", res.StatusCode, body)
	}
	for _, bad := range []string{"0.0.0.0:0", ":0", "192.0.2.1:1777", "1777"} {
		if _, err := serveProfiling(bad); err == nil || !strings.Contains(err.Error(), "PPROF_ADDR") {
			t.Errorf("%s: want a refusal naming PPROF_ADDR, got %v", bad, err)
		}
	}
}
