package httpjson

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/starmates-ai/ai-teams/telemetry"
)

func TestDecode(t *testing.T) {
	type body struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	for _, tc := range []struct {
		in     string
		status int
		code   string
	}{
		{`{"name":"a","n":1}`, 0, ""},
		{``, 400, "empty_body"},
		{`{"name":`, 400, "invalid_json"},
		{`{"name" "a"}`, 400, "invalid_json"},
		{`{"name":"a","extra":1}`, 400, "unknown_field"},
		{`{"n":"one"}`, 400, "invalid_field"},
		{`{"name":"a"} {"name":"b"}`, 400, "invalid_json"},
		{`[1,2]`, 400, "invalid_field"},
		{`{"name":"` + strings.Repeat("x", 100) + `"}`, 413, "body_too_large"},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/", strings.NewReader(tc.in))
		var b body
		err := Decode(w, r, &b, 64)
		if tc.status == 0 {
			if err != nil {
				t.Errorf("%q: %v", tc.in, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != tc.status || e.Code != tc.code {
			t.Errorf("%q: got %v, want %d %s", tc.in, err, tc.status, tc.code)
		}
	}
}

func TestWriteErrorCarriesTrackingID(t *testing.T) {
	w := httptest.NewRecorder()
	w.Header().Set(telemetry.HeaderTrackingID, "4bf92f3577b34da6a3ce929d0e0e4736")
	WriteErr(w, errors.New("db password=hunter2 leaked?"))
	if w.Code != 500 || strings.Contains(w.Body.String(), "hunter2") || !strings.Contains(w.Body.String(), `"tracking_id":"4bf92f3577b34da6a3ce929d0e0e4736"`) {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}
