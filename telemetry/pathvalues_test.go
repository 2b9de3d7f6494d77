package telemetry

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The middleware calls the handler ServeMux.Handler matched, and sets the
// path values itself; a handler must see what ServeMux.ServeHTTP would have
// given it.
func TestPathValuesAsServeMux(t *testing.T) {
	patterns := []string{
		"GET /api/v1/sessions/{id}",
		"GET /files/{dir}/{path...}",
		"GET /static/",
		"GET /exact/{$}",
		"POST /a/{x}/b/{y}",
		"GET example.com/host/{h}",
		"/any/{m}/tail/",
	}
	names := []string{"id", "dir", "path", "x", "y", "h", "m"}
	requests := []struct{ method, target, host string }{
		{"GET", "/api/v1/sessions/sess_42", ""},
		{"GET", "/api/v1/sessions/a%2Fb", ""},
		{"GET", "/api/v1/sessions/%E2%82%AC%20x", ""},
		{"GET", "/files/d/", ""},
		{"GET", "/files/d/a/b/c.txt", ""},
		{"GET", "/files/d/a%2Fb/c%20d", ""},
		{"GET", "/static/x/y", ""},
		{"GET", "/exact/", ""},
		{"POST", "/a/1/b/2", ""},
		{"GET", "/host/z", "example.com"},
		{"DELETE", "/any/mm/tail/more/stuff", ""},
		{"GET", "/nothing/here", ""},
	}
	record := func(got map[string]string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			got["pattern"] = r.Pattern
			for _, n := range names {
				if v := r.PathValue(n); v != "" {
					got[n] = v
				}
			}
		}
	}
	for _, rq := range requests {
		t.Run(rq.method+" "+rq.target, func(t *testing.T) {
			want, got := map[string]string{}, map[string]string{}
			plain, wrapped := http.NewServeMux(), http.NewServeMux()
			for _, p := range patterns {
				plain.Handle(p, record(want))
				wrapped.Handle(p, record(got))
			}
			h := NewMiddleware(WithLogger(newTestLogger(&syncBuffer{})))(wrapped)
			for _, serve := range []http.Handler{plain, h} {
				req := httptest.NewRequest(rq.method, rq.target, nil)
				if rq.host != "" {
					req.Host = rq.host
				}
				serve.ServeHTTP(httptest.NewRecorder(), req)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("through the middleware %v, ServeMux alone %v", got, want)
			}
		})
	}
}

func TestPatternWildcards(t *testing.T) {
	for pattern, want := range map[string]string{
		"GET /a/{id}":             "[{id 1 false}]",
		"/files/{dir}/{p...}":     "[{dir 1 false} {p 2 true}]",
		"GET example.com/{x}/{$}": "[{x 0 false}]",
		"GET /static/":            "[]",
		"POST /{a}/{b}":           "[{a 0 false} {b 1 false}]",
	} {
		if got := fmt.Sprint(patternWildcards(pattern)); got != want {
			t.Errorf("%q: %s, want %s", pattern, got, want)
		}
	}
}
