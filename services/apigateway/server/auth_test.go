package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseAPIKeys(t *testing.T) {
	k, err := ParseAPIKeys(" web:key-one , cli:key-two ,")
	if err != nil || k.Len() != 2 {
		t.Fatalf("%v %v", k, err)
	}
	if k.keys[0].ID == k.keys[1].ID || len(k.keys[0].ID) != 8 || strings.Contains(k.keys[0].ID, "key") {
		t.Errorf("ids %q %q", k.keys[0].ID, k.keys[1].ID)
	}
	for _, bad := range []string{"s3cr3t-no-colon", ":s3cr3t", "client:", "a:b,s3cr3t"} {
		_, err := ParseAPIKeys(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error echoes the secret: %v", err)
		}
	}
}

func TestRequire(t *testing.T) {
	k, _ := ParseAPIKeys("web:key-one")
	var client string
	h := k.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, _ := APIKeyFrom(r.Context())
		client = key.Client
	}))
	for _, tc := range []struct {
		hdr, val string
		want     int
	}{
		{"Authorization", "Bearer key-one", 200},
		{"Authorization", "bearer key-one", 200},
		{"X-API-Key", "key-one", 200},
		{"Authorization", "Basic key-one", 401},
		{"Authorization", "Bearer key-two", 401},
		{"X-API-Key", "", 401},
	} {
		client = ""
		req := httptest.NewRequest("GET", "/api/x", nil)
		if tc.val != "" {
			req.Header.Set(tc.hdr, tc.val)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("%s: %q → %d, want %d", tc.hdr, tc.val, w.Code, tc.want)
		}
		if tc.want == 200 && client != "web" {
			t.Errorf("client %q", client)
		}
		if tc.want == 401 && (w.Header().Get("WWW-Authenticate") == "" || !strings.Contains(w.Body.String(), "unauthorized")) {
			t.Errorf("401 without challenge or JSON: %s", w.Body)
		}
	}
}
