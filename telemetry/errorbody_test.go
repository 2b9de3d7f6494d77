package telemetry

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

func TestWriteError(t *testing.T) {
	w := httptest.NewRecorder()
	w.Header().Set(HeaderTrackingID, "4bf92f3577b34da6a3ce929d0e0e4736")
	WriteError(w, 409, "conflict", `the "thing" exists`)
	if w.Code != 409 || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	var eb ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil {
		t.Fatal(err)
	}
	if eb != (ErrorBody{Error: ErrorDetail{Code: "conflict", Message: `the "thing" exists`}, TrackingID: "4bf92f3577b34da6a3ce929d0e0e4736"}) {
		t.Errorf("%+v", eb)
	}
	want := `{"error":{"code":"conflict","message":"the \"thing\" exists"},"tracking_id":"4bf92f3577b34da6a3ce929d0e0e4736"}` + "\n"
	if w.Body.String() != want {
		t.Errorf("body %s, want %s", w.Body, want)
	}
}
