package oncall

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRecorderKeepsEachNotificationAsOneLine(t *testing.T) {
	var store, log bytes.Buffer
	rec := &Recorder{Store: &store, Log: &log, Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }}
	payload := `{
	  "version": "4", "status": "firing",
	  "alerts": [{"status": "firing", "labels": {"alertname": "SLOErrorBudgetBurnFast", "environment": "staging", "service": "api-gateway", "severity": "page"}}]
	}`
	for range 2 {
		w := httptest.NewRecorder()
		rec.ServeHTTP(w, httptest.NewRequest("POST", "/alertmanager", strings.NewReader(payload)))
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	lines := strings.Split(strings.TrimSuffix(store.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), store.String())
	}
	var got struct {
		ReceivedAt   string       `json:"received_at"`
		Notification Notification `json:"notification"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	if got.ReceivedAt != "2026-01-02T03:04:05Z" || got.Notification.Alerts[0].Labels["alertname"] != "SLOErrorBudgetBurnFast" {
		t.Errorf("stored %+v", got)
	}
	if want := "firing SLOErrorBudgetBurnFast environment=staging service=api-gateway severity=page"; !strings.Contains(log.String(), want) {
		t.Errorf("log %q lacks %q", log.String(), want)
	}
}

func TestRecorderRefusesWhatIsNotANotification(t *testing.T) {
	var store bytes.Buffer
	rec := &Recorder{Store: &store}
	for _, tc := range []struct {
		method, body string
		want         int
	}{
		{"GET", "", http.StatusMethodNotAllowed},
		{"POST", "not json", http.StatusBadRequest},
		{"POST", `{"alerts":[]}`, http.StatusBadRequest},
		{"POST", `{"version":"4","alerts":[],"pad":"` + strings.Repeat("x", maxNotification) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		w := httptest.NewRecorder()
		rec.ServeHTTP(w, httptest.NewRequest(tc.method, "/alertmanager", strings.NewReader(tc.body)))
		if w.Code != tc.want {
			t.Errorf("%s %.20q: %d, want %d", tc.method, tc.body, w.Code, tc.want)
		}
	}
	if store.Len() != 0 {
		t.Errorf("stored %q", store.String())
	}
}
