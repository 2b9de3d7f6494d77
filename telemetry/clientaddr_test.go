package telemetry

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func TestClientAddress(t *testing.T) {
	vpc := netip.MustParsePrefix("10.0.0.0/16")
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		xff     []string // one entry per X-Forwarded-For header line
		want    string
	}{
		{"no proxy configured: XFF ignored", nil, "203.0.113.9:5000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"spoofed XFF from an untrusted peer", []netip.Prefix{vpc}, "203.0.113.9:5000", []string{"198.51.100.1, 10.0.0.5"}, "203.0.113.9"},
		{"trusted peer without XFF", []netip.Prefix{vpc}, "10.0.1.2:5000", nil, "10.0.1.2"},
		{"through the load balancer", []netip.Prefix{vpc}, "10.0.1.2:5000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"client's own XFF entry is left of the real one", []netip.Prefix{vpc}, "10.0.1.2:5000", []string{"1.1.1.1, 198.51.100.7"}, "198.51.100.7"},
		{"two trusted hops", []netip.Prefix{vpc}, "10.0.1.2:5000", []string{"6.6.6.6, 198.51.100.7, 10.0.3.3"}, "198.51.100.7"},
		{"header lines read as one list", []netip.Prefix{vpc}, "10.0.1.2:5000", []string{"6.6.6.6", "198.51.100.7"}, "198.51.100.7"},
		{"every hop trusted: the left-most", []netip.Prefix{vpc}, "10.0.1.2:5000", []string{"10.0.9.9, 10.0.3.3"}, "10.0.9.9"},
		{"garbage stops at the last trusted hop", []netip.Prefix{vpc}, "10.0.1.2:5000", []string{"198.51.100.7, not-an-ip, 10.0.3.3"}, "10.0.3.3"},
		{"entries with ports and spaces", []netip.Prefix{vpc}, "10.0.1.2:5000", []string{" 198.51.100.7:4711 ,10.0.3.3 "}, "198.51.100.7"},
		{"IPv6 client behind an IPv6 proxy", []netip.Prefix{netip.MustParsePrefix("fd00::/8")}, "[fd00::1]:443", []string{"2001:db8::7"}, "2001:db8::7"},
		{"IPv6 peer, untrusted", []netip.Prefix{vpc}, "[2001:db8::1]:443", []string{"198.51.100.7"}, "2001:db8::1"},
		{"IPv4-mapped peer", []netip.Prefix{vpc}, "[::ffff:10.0.1.2]:443", []string{"198.51.100.7"}, "198.51.100.7"},
		{"bracketed IPv6 entry with port", []netip.Prefix{vpc}, "10.0.1.2:5000", []string{"[2001:db8::7]:4711"}, "2001:db8::7"},
		{"single trusted address", []netip.Prefix{netip.MustParsePrefix("10.0.1.2/32")}, "10.0.1.2:5000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"neighbour of a single trusted address", []netip.Prefix{netip.MustParsePrefix("10.0.1.2/32")}, "10.0.1.3:5000", []string{"198.51.100.7"}, "10.0.1.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConfig([]Option{WithTrustedProxies(tc.trusted...)})
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := c.clientAddress(r); got != tc.want {
				t.Errorf("client address %q, want %q", got, tc.want)
			}
		})
	}
}

// The address reaches the span (replacing otelhttp's, which believes any
// X-Forwarded-For) and the access line.
func TestClientAddressOnSpanAndAccessLine(t *testing.T) {
	for _, tc := range []struct {
		name, peer, want string
	}{
		{"untrusted peer", "203.0.113.9:5000", "203.0.113.9"},
		{"load balancer", "10.0.1.2:5000", "198.51.100.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, WithTrustedProxies(netip.MustParsePrefix("10.0.0.0/16")))
			req := httptest.NewRequest("GET", "/ok/1", nil)
			req.RemoteAddr = tc.peer
			req.Header.Set("X-Forwarded-For", "6.6.6.6, 198.51.100.7")
			s.h.ServeHTTP(httptest.NewRecorder(), req)
			if got := attr(s.serverSpan(t), "client.address"); got != tc.want {
				t.Errorf("span client.address %q, want %q", got, tc.want)
			}
			var ip any
			for _, l := range s.logs.lines(t) {
				if r, ok := l["request"].(map[string]any); ok {
					ip = r["ip"]
				}
			}
			if ip != tc.want {
				t.Errorf("access line request.ip %v, want %q", ip, tc.want)
			}
		})
	}
}

func TestTrustedProxiesFromConfig(t *testing.T) {
	c := Config{ServiceName: "s", TrustedProxies: " 10.0.0.0/16, 192.168.7.9 ,fd00::/8,10.1.2.3/16"}
	got, err := c.trustedProxies()
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, p := range got {
		s = append(s, p.String())
	}
	if strings.Join(s, " ") != "10.0.0.0/16 192.168.7.9/32 fd00::/8 10.1.0.0/16" {
		t.Errorf("parsed %v", s)
	}
	for _, bad := range []string{"10.0.0.0/33", "ten.0.0.0/8", "10.0.0.0/16;10.1.0.0/16"} {
		if _, err := (Config{ServiceName: "s", TrustedProxies: bad}).withDefaults(); err == nil {
			t.Errorf("TRUSTED_PROXIES=%q accepted", bad)
		}
	}
	t.Setenv("TRUSTED_PROXIES", "10.0.0.0/16")
	if cfg := ConfigFromEnv("svc", "1"); cfg.TrustedProxies != "10.0.0.0/16" {
		t.Errorf("ConfigFromEnv: %q", cfg.TrustedProxies)
	}

	// Telemetry.Middleware applies it.
	logs := &syncBuffer{}
	tel := &Telemetry{Config: Config{ServiceName: "s", TrustedProxies: "10.0.0.0/16"}, Logger: newTestLogger(logs),
		TracerProvider: sdktrace.NewTracerProvider()}
	var seen string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {})
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.0.1.2:5000"
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	tel.Middleware()(mux).ServeHTTP(httptest.NewRecorder(), req)
	for _, l := range logs.lines(t) {
		if r, ok := l["request"].(map[string]any); ok {
			seen, _ = r["ip"].(string)
		}
	}
	if seen != "198.51.100.7" {
		t.Errorf("Telemetry.Middleware: request.ip %q", seen)
	}
}
