package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// serveProfiling serves net/http/pprof on addr (PPROF_ADDR), a loopback
// address only, as the services do: the contrib pprof extension is not in
// this distribution's module set, and profiling the collector under load is
// how its share of the machine is explained. It returns the address bound.
func serveProfiling(addr string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("PPROF_ADDR=%q: want host:port, e.g. 127.0.0.1:1777: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("PPROF_ADDR=%q: profiles are served on a loopback address only", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("PPROF_ADDR: %w", err)
	}
	// The named profiles (heap, goroutine, ...) through Index, and CPU;
	// symbols come from the binary given to go tool pprof.
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), nil
}
