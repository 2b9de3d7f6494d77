// Package oncall is the local stand-in for the on-call integration that
// Alertmanager delivers to (Grafana OnCall in production). It keeps every
// notification as one JSON line, so a person running the demo can see that
// an alert arrived and a test can wait for its own alert without binding a
// port of its own.
package oncall

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// maxNotification bounds one request body; Alertmanager's grouped messages
// are a few KiB.
const maxNotification = 1 << 20

// Notification is the part of Alertmanager's webhook payload (version 4)
// that a person reads.
type Notification struct {
	Version string  `json:"version"`
	Status  string  `json:"status"`
	Alerts  []Alert `json:"alerts"`
}

// Alert is one alert of a notification.
type Alert struct {
	Status string            `json:"status"`
	Labels map[string]string `json:"labels"`
}

// Recorder appends each notification it receives to Store as one line:
// {"received_at":"…","notification":{…the payload as sent…}}.
type Recorder struct {
	Store io.Writer
	// Log gets one human line per alert; nil keeps quiet.
	Log io.Writer
	Now func() time.Time

	mu sync.Mutex
}

func (rec *Recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, `{"error":"POST an Alertmanager webhook payload"}`, http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxNotification))
	if err != nil {
		http.Error(w, fmt.Sprintf(`{"error":%q}`, err.Error()), http.StatusRequestEntityTooLarge)
		return
	}
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil || n.Version == "" {
		http.Error(w, `{"error":"body is not an Alertmanager webhook payload"}`, http.StatusBadRequest)
		return
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, body) // valid JSON: Unmarshal accepted it
	now := time.Now
	if rec.Now != nil {
		now = rec.Now
	}
	line := fmt.Sprintf(`{"received_at":%q,"notification":%s}`+"\n", now().UTC().Format(time.RFC3339Nano), compact.Bytes())

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if _, err := io.WriteString(rec.Store, line); err != nil {
		http.Error(w, `{"error":"cannot store the notification"}`, http.StatusInternalServerError)
		return
	}
	if rec.Log != nil {
		for _, a := range n.Alerts {
			fmt.Fprintf(rec.Log, "%s %s %s environment=%s service=%s severity=%s\n",
				now().UTC().Format(time.RFC3339), a.Status, a.Labels["alertname"],
				a.Labels["environment"], a.Labels["service"], a.Labels["severity"])
		}
	}
	w.WriteHeader(http.StatusOK)
}
